"""Answering a computation: from the result store, or by a job (202 while it runs).

Contract: :func:`result_text` returns the stored JSON text of a result, byte for byte what the
first computation stored, or a 202 response with the job's status when the job outlasts the
server's wait; a failed job becomes an ApiError (400 for bad input, 500 for a fault).
"""

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from kremlinology.web.errors import ApiError, user_errors
from kremlinology.web.jobs import DONE, FAILED, Job
from kremlinology.web.service import Explorer, Request


def job_status(explorer: Explorer, job: Job) -> dict[str, Any]:
    """A job's status object (``JobStatus``), with the URLs of its result and page."""
    params = job.meta.get("params", {})
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "stage": job.stage,
        "progress": round(job.progress, 3),
        "position": explorer.jobs.position(job),
        "elapsed_s": round(job.elapsed_s, 2),
        "estimated": job.estimated,
        "error": job.error,
        "error_kind": job.error_kind,
        "result_url": f"/api/{job.kind}?{urlencode(params)}",
        "page_url": None if job.kind == "chronicle" else f"/{job.kind}?{urlencode(params)}",
    }


def cached_status(request: Request) -> dict[str, Any]:
    """The status object of a request whose result is already stored (no job)."""
    params = urlencode(request.params())
    return {
        "id": None,
        "kind": request.kind,
        "state": DONE,
        "stage": "done",
        "progress": 1.0,
        "position": 0,
        "elapsed_s": 0.0,
        "estimated": True,
        "error": None,
        "error_kind": None,
        "result_url": f"/api/{request.kind}?{params}",
        "page_url": None if request.kind == "chronicle" else f"/{request.kind}?{params}",
    }


def json_text(text: str) -> Response:
    """A JSON answer from text already serialised (so a cached answer is sent unchanged)."""
    return Response(text, media_type="application/json")


async def wait_for_job(explorer: Explorer, job: Job) -> JSONResponse | None:
    """Wait for ``job`` up to the server's wait: None once it has ended (its state says how),
    or the 202 answer with its status and a ``Location`` to poll when it runs on."""
    try:
        await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(job.future)), timeout=explorer.settings.wait_s
        )
    except TimeoutError:
        headers = {"Location": f"/api/jobs/{job.id}"}
        return JSONResponse(job_status(explorer, job), status_code=202, headers=headers)
    except Exception:
        pass  # the job's state says what went wrong
    return None


async def result_text(explorer: Explorer, request: Request, client: str) -> str | JSONResponse:
    """The stored JSON text of a result: cached, or computed now (202 if it takes long)."""
    text = await run_in_threadpool(explorer.cached_text, request)
    if text is not None:
        return text
    with user_errors():
        job = explorer.submit(request, client)
    pending = await wait_for_job(explorer, job)
    if pending is not None:
        return pending
    if job.state == FAILED:
        code = 500 if job.error_kind == "internal" else 400
        raise ApiError(code, job.error or "failed")
    text = await run_in_threadpool(explorer.cached_text, request)
    return text if text is not None else json.dumps(job.result, allow_nan=False)


async def answer(explorer: Explorer, request: Request, client: str) -> Response:
    """The whole stored result as the response (or the 202 of its job)."""
    text = await result_text(explorer, request, client)
    return text if isinstance(text, Response) else json_text(text)
