"""JSON API: start a computation without waiting for it, and poll its status."""

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from kremlinology.web.answers import cached_status, job_status
from kremlinology.web.deps import ClientDep, ExplorerDep
from kremlinology.web.errors import ApiError, user_errors
from kremlinology.web.models import ERRORS, JobRequest, JobStatus
from kremlinology.web.service import Explorer, Request

router = APIRouter(tags=["jobs"])


def job_request(explorer: Explorer, body: JobRequest) -> Request:
    """The checked request a job body asks for (raises the package's input errors)."""
    runs = body.runs if body.runs is not None else explorer.settings.runs_default
    if body.kind == "history":
        return explorer.history_request(body.scenario, runs, body.seed)
    request = explorer.whatif_request(body.scenario, body.q, runs, body.seed, body.condition)
    if body.kind == "chronicle":
        request = explorer.chronicle_request(request, body.timeline, body.pick)
    return request


@router.post(
    "/api/jobs",
    response_model=JobStatus,
    status_code=202,
    responses={200: {"model": JobStatus, "description": "already cached"}, **ERRORS},
)
def api_submit(
    explorer: ExplorerDep, client: ClientDep, body: Annotated[JobRequest, Body()]
) -> Any:
    """Start a computation without waiting for it; poll its status at /api/jobs/{job_id}."""
    with user_errors():
        request = job_request(explorer, body)
        if explorer.cached_text(request) is not None:
            return JSONResponse(cached_status(request), status_code=200)
        return job_status(explorer, explorer.submit(request, client))


@router.get(
    "/api/jobs/{job_id}",
    response_model=JobStatus,
    responses={404: ERRORS[404], 422: ERRORS[422]},
)
def api_job(explorer: ExplorerDep, job_id: Annotated[str, PathParam(max_length=64)]) -> Any:
    """A job's state, stage and estimated progress."""
    job = explorer.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no job '{job_id}' (finished jobs are forgotten after a while)")
    return job_status(explorer, job)
