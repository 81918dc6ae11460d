"""The web explorer: a FastAPI app with pages for people and a JSON API for programs.

Pages: ``/`` and ``/whatif`` (ask a what-if), ``/history`` (fidelity to the record), ``/scenario``
(the scenario browser), ``/api-docs`` (the API, read from the OpenAPI document at
``/openapi.json``). The JSON API returns the same objects as the CLI's ``--json``.

``create_app`` builds one app around one :class:`Explorer` (scenarios, result store, job queue):
the routes live in :mod:`kremlinology.web.routes`, one ``APIRouter`` per area, and reach the
explorer through the dependencies of :mod:`kremlinology.web.deps`.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from kremlinology.limits import MAX_BODY_BYTES
from kremlinology.version import __version__
from kremlinology.web.bodylimit import BodyLimit
from kremlinology.web.errors import ApiError, validation_message
from kremlinology.web.pages import Pages
from kremlinology.web.params import document_limits
from kremlinology.web.routes import jobs, pages, results, scenarios, server
from kremlinology.web.service import Explorer, Settings

STATIC = Path(__file__).parent / "static"
DESCRIPTION = (
    "Counterfactual history of the Soviet leadership. Every JSON object is the one the "
    "CLI prints with --json. Results are cached by (scenario sha256, query, runs, seed, "
    "condition); a call whose job takes longer than the server's wait answers 202 with "
    "the job's status, to be polled at /api/jobs/{job_id}."
)
ROUTERS = (scenarios.router, results.router, jobs.router, server.router, pages.router)


def create_app(settings: Settings | None = None, explorer: Explorer | None = None) -> FastAPI:
    """Build the app for one Explorer (made from ``settings`` when none is given).

    The explorer's job queue opens when the app starts and the explorer closes when it stops.
    """
    explorer = explorer or Explorer(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        explorer.jobs.open()
        yield
        explorer.close()

    app = FastAPI(
        title="Kremlinology explorer",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.explorer = explorer
    app.state.pages = Pages(explorer)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)  # bodies bounded before reading
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _handle_errors(app, explorer.settings.max_runs)
    app.openapi = _openapi(app, explorer)  # type: ignore[method-assign]
    return app


def _handle_errors(app: FastAPI, max_runs: int) -> None:
    """Answer refusals as ``{"detail": message}``: ApiError's status, 422 for bad parameters."""

    async def api_error(_request: HttpRequest, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return JSONResponse(
            {"detail": error.message}, status_code=error.status, headers=error.headers
        )

    async def invalid(_request: HttpRequest, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return JSONResponse({"detail": validation_message(error, max_runs)}, status_code=422)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)


def _openapi(app: FastAPI, explorer: Explorer) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI document (built once), stating this server's own limits."""

    build = app.openapi  # FastAPI's own, which keeps what it built in app.openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_limits(build(), explorer.settings, explorer.scenario().whatifs)
        return app.openapi_schema or build()

    return openapi
