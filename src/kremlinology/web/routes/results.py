"""JSON API: what-ifs, their families and chronicles, and fidelity to the record.

Every answer is the object of the matching CLI command with ``--json``; results come from the
store when they are there, otherwise from a job (202 with its status if it outlasts the wait).
"""

import json

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kremlinology.web.answers import answer, json_text, result_text, wait_for_job
from kremlinology.web.deps import ClientDep, ExplorerDep
from kremlinology.web.errors import ApiError, user_errors
from kremlinology.web.jobs import FAILED
from kremlinology.web.models import (
    ERRORS,
    ChronicleOut,
    FamilyOut,
    HistoryOut,
    JobStatus,
    WhatIfOut,
)
from kremlinology.web.params import ChronicleDep, HistoryDep, WhatIfDep, WhatIfParams
from kremlinology.web.service import Explorer

router = APIRouter(tags=["results"])


def _responses(model: object) -> dict[int | str, dict[str, object]]:
    return {200: {"model": model}, 202: {"model": JobStatus}, **ERRORS}


async def whatif_part(explorer: Explorer, part: str, params: WhatIfParams, client: str) -> Response:
    """One part of a stored what-if answer, computing it first if needed."""
    with user_errors():
        request = await run_in_threadpool(
            explorer.whatif_request,
            params.scenario,
            params.q,
            params.runs,
            params.seed,
            params.condition,
        )
    text = await result_text(explorer, request, client)
    if isinstance(text, Response):
        return text
    if part == "result" and not json.loads(text).get("explained", True):
        # the JSON answer is the CLI's whole one: wait for its drivers (202 if they take long)
        with user_errors():
            job = explorer.submit_explain(request, client)
        pending = await wait_for_job(explorer, job)
        if pending is not None:
            return pending
        if job.state == FAILED:
            raise ApiError(500, job.error or "the drivers could not be found")
        text = await run_in_threadpool(explorer.cached_text, request) or text
    return json_text(json.dumps(json.loads(text)[part], allow_nan=False))


@router.get("/api/whatif", response_model=None, responses=_responses(WhatIfOut))
async def api_whatif(params: WhatIfDep, explorer: ExplorerDep, client: ClientDep) -> Response:
    """Answer a what-if on twin worlds (``kremlinology whatif Q --json``)."""
    return await whatif_part(explorer, "result", params, client)


@router.get("/api/families", response_model=None, responses=_responses(list[FamilyOut]))
async def api_families(params: WhatIfDep, explorer: ExplorerDep, client: ClientDep) -> Response:
    """The families of what-if timelines, each with its representative's chronicle."""
    return await whatif_part(explorer, "families", params, client)


@router.get("/api/chronicle", response_model=None, responses=_responses(ChronicleOut))
async def api_chronicle(params: ChronicleDep, explorer: ExplorerDep, client: ClientDep) -> Response:
    """One timeline's chronicle in both worlds (``kremlinology chronicle Q --format json``)."""
    asked = params.whatif
    with user_errors():
        whatif = await run_in_threadpool(
            explorer.whatif_request,
            asked.scenario,
            asked.q,
            asked.runs,
            asked.seed,
            asked.condition,
        )
        request = explorer.chronicle_request(whatif, params.timeline, params.pick)
    if params.timeline is None and params.pick == "typical":
        stored = await run_in_threadpool(explorer.cached, whatif)
        if stored is not None and stored.get("chronicle") is not None:
            return json_text(json.dumps(stored["chronicle"], allow_nan=False))
    return await answer(explorer, request, client)


@router.get("/api/history", response_model=None, responses=_responses(HistoryOut))
async def api_history(params: HistoryDep, explorer: ExplorerDep, client: ClientDep) -> Response:
    """Share of baseline timelines reproducing each fact (``kremlinology history --json``)."""
    with user_errors():
        request = explorer.history_request(params.scenario, params.runs, params.seed)
    return await answer(explorer, request, client)
