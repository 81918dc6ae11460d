"""The server itself: health, the files of stored reports, the favicon and the API docs page."""

import re
from typing import Any

from fastapi import APIRouter
from fastapi import Request as HttpRequest
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kremlinology.web.answers import wait_for_job
from kremlinology.web.deps import ClientDep, ExplorerDep, PagesDep
from kremlinology.web.errors import ApiError, retry_headers
from kremlinology.web.jobs import FAILED, QueueFull
from kremlinology.web.models import ERRORS, JobStatus

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
    responses={
        200: {"description": "a report file"},
        202: {"model": JobStatus},
        404: ERRORS[404],
        503: ERRORS[503],
    },
)
async def report_file(explorer: ExplorerDep, client: ClientDep, digest: str, name: str) -> Response:
    """A file of a what-if's report (report.md, report.bbcode, result.json, charts).

    A report is written after its answer, in the background; a file asked for before it is
    there is written now (202 with the job's status if that outlasts the server's wait).
    """
    if not DIGEST.match(digest):
        raise ApiError(404, f"no report file '{name}' for this result")
    stored = await run_in_threadpool(explorer.store.file, digest, name)
    if stored is None:
        request = await run_in_threadpool(explorer.report_request, digest)
        if request is None:
            raise ApiError(404, f"no report file '{name}' for this result")
        try:
            job = explorer.submit_report(request, client)
        except QueueFull as error:
            raise ApiError(503, str(error), retry_headers(error)) from error
        pending = await wait_for_job(explorer, job)
        if pending is not None:
            return pending
        if job.state == FAILED:
            raise ApiError(500, job.error or "the report could not be written")
        stored = await run_in_threadpool(explorer.store.file, digest, name)
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
