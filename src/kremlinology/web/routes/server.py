"""The server itself: health, the files of stored reports, the favicon and the API docs page."""

import re
from typing import Any

from fastapi import APIRouter
from fastapi import Request as HttpRequest
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kremlinology.web.deps import ExplorerDep, PagesDep, StoreDep
from kremlinology.web.errors import ApiError
from kremlinology.web.models import ERRORS

DIGEST = re.compile(r"^[0-9a-f]{64}$")

router = APIRouter()


@router.get("/api/health", tags=["server"])
def api_health(explorer: ExplorerDep) -> dict[str, Any]:
    """Liveness: the default scenario, jobs waiting, results stored."""
    return {
        "ok": True,
        "scenario": explorer.default_name,
        "pending": explorer.jobs.pending(),
        "stored": explorer.store.count(),
        "max_runs": explorer.settings.max_runs,
    }


@router.get(
    "/report/{digest}/{name:path}",
    tags=["results"],
    responses={200: {"description": "a report file"}, 404: ERRORS[404]},
)
def report_file(store: StoreDep, digest: str, name: str) -> Response:
    """A file of a what-if's report (report.md, report.bbcode, result.json, charts)."""
    stored = store.file(digest, name) if DIGEST.match(digest) else None
    if stored is None:
        raise ApiError(404, f"no report file '{name}' for this result")
    inline = stored.media_type.startswith("image/")
    disposition = "inline" if inline else "attachment"
    filename = name.rsplit("/", 1)[-1]
    headers = {"Content-Disposition": f'{disposition}; filename="{filename}"'}
    return Response(stored.data, media_type=stored.media_type, headers=headers)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """The icon, from the static files."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/api-docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: HttpRequest, pages: PagesDep) -> Response:
    """The API, read from the app's own OpenAPI document."""
    spec = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]
    return pages.render("api.html", request, operations=operations, form={"scenario": ""})
