"""The web explorer: a FastAPI app with pages for people and a JSON API for programs.

Pages: ``/`` and ``/whatif`` (ask a what-if), ``/history`` (fidelity to the record), ``/scenario``
(the scenario browser), ``/api-docs`` (the API, read from the OpenAPI document at
``/openapi.json``). A result page is addressed by its query parameters (scenario, q, runs, seed,
condition), so its URL can be shared; it shows the cached result, or starts the job and shows its
progress until the result is there. The JSON API returns the same objects as the CLI's ``--json``.
"""

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Body, FastAPI, Query
from fastapi import Path as PathParam
from fastapi import Request as HttpRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kremlinology import limits
from kremlinology.engine.rng import MAX_SEED
from kremlinology.limits import MAX_BODY_BYTES
from kremlinology.scenario.errors import KremlinologyError, UnknownScenarioError
from kremlinology.scenario.model import Scenario
from kremlinology.scenario.schema import WhatIf
from kremlinology.version import __version__
from kremlinology.web import views
from kremlinology.web.bodylimit import BodyLimit
from kremlinology.web.jobs import DONE, FAILED, Job, QueueFull
from kremlinology.web.service import (
    MAX_QUERY_CHARS,
    ChronicleUnavailable,
    Explorer,
    Request,
    Settings,
    describe_scenario,
)

STATIC = Path(__file__).parent / "static"
DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ApiError(Exception):
    """An answer other than success: a status code and the one message to show."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = limits.message(message)
        self.headers = headers or {}


def status_of(error: Exception) -> int:
    if isinstance(error, UnknownScenarioError | ChronicleUnavailable):
        return 404
    if isinstance(error, QueueFull):
        return 503
    return 400


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the package's errors for bad input into ApiError with the CLI's message."""
    try:
        yield
    except (KremlinologyError, ValueError, QueueFull) as error:
        raise ApiError(status_of(error), str(error), retry_headers(error)) from None


def retry_headers(error: Exception) -> dict[str, str]:
    """``Retry-After`` for a full queue (503), nothing otherwise."""
    if isinstance(error, QueueFull):
        return {"Retry-After": str(error.retry_after_s)}
    return {}


# Response models: they document the JSON objects (the CLI's --json) in the OpenAPI document.


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorOut(BaseModel):
    detail: str = Field(description="the message the CLI prints after 'error: '")


class ScenarioIdentity(Loose):
    name: str
    version: str
    sha256: str


class OutcomeEffect(Loose):
    id: str
    label: str
    baseline: float
    whatif: float
    delta: float
    ci: list[float] = Field(description="95% interval of the paired change")
    changed: float = Field(description="share of twin pairs whose value differs")


class Driver(Loose):
    outcome: str
    factor: str
    importance: float


class DivergencePoint(Loose):
    month: str
    share: float


class WhatIfOut(Loose):
    """The object of ``kremlinology whatif --json``."""

    scenario: ScenarioIdentity
    package_version: str
    query: str
    matched: dict[str, str] | None
    interventions: list[str]
    divergence_month: str
    runs: int
    conditioned_runs: int
    conditioning: dict[str, Any]
    seed: int
    elapsed_s: float
    outcomes: list[OutcomeEffect]
    drivers: list[Driver]
    divergence: list[DivergencePoint]
    admissibility: list[dict[str, Any]]


class FactShare(Loose):
    id: str
    month: str
    label: str
    p: float = Field(description="share of baseline timelines that reproduce the fact")
    split: str


class HistoryOut(Loose):
    """The object of ``kremlinology history --json``."""

    runs: int
    seed: int
    facts: list[FactShare]
    score: float | None
    fit_score: float | None
    holdout_score: float | None


class ChronicleEntry(Loose):
    month: str
    event: str
    option: str | None = None
    text: str
    departure: bool = False


class ChronicleOut(Loose):
    """One timeline told month by month, in the what-if world and in its factual twin."""

    timeline: int
    query: str
    interventions: list[str]
    divergence_month: str
    whatif: list[ChronicleEntry]
    factual: list[ChronicleEntry]


class FamilyOut(Loose):
    """A family of similar what-if timelines, with the chronicle of its representative."""

    family: dict[str, Any]
    chronicle: ChronicleOut | None


class ScenarioEntry(BaseModel):
    name: str
    title: str
    default: bool
    loads: bool
    error: str | None


class ScenarioOut(Loose):
    scenario: ScenarioIdentity
    title: str
    description: str
    start: str
    end: str
    actors: list[dict[str, Any]]
    events: list[dict[str, Any]]
    facts: list[dict[str, Any]]
    whatifs: list[dict[str, Any]]


class JobStatus(BaseModel):
    id: str | None = Field(description="the job's id; null when the result was already cached")
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    stage: str
    progress: float = Field(description="estimated share done, 0 to 1")
    position: int = Field(description="queued jobs that start before this one")
    elapsed_s: float
    estimated: bool = Field(description="false while progress within a stage cannot be estimated")
    error: str | None
    error_kind: str | None = Field(description="'input' (fix the request) or 'internal'")
    result_url: str = Field(description="the JSON API call that returns the result")
    page_url: str | None = Field(description="the shareable page of the result")


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["whatif", "history", "chronicle"] = "whatif"
    scenario: str | None = Field(None, max_length=200)
    q: str = Field("", max_length=MAX_QUERY_CHARS, description="what-if query (not for history)")
    runs: int | None = Field(None, ge=1)
    seed: int = Field(1, ge=0, le=MAX_SEED)
    condition: bool = True
    timeline: int | None = Field(None, ge=0)
    pick: str = Field("typical", max_length=40)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input: the CLI's message"},
    404: {"model": ErrorOut, "description": "unknown scenario, job or file"},
    422: {"model": ErrorOut, "description": "a parameter of the wrong type or out of range"},
    413: {"model": ErrorOut, "description": "the request body is too large"},
    503: {"model": ErrorOut, "description": "too many jobs waiting (see Retry-After)"},
}


def create_app(settings: Settings | None = None, explorer: Explorer | None = None) -> FastAPI:
    """Build the app for one Explorer (scenarios, result store, job queue)."""
    explorer = explorer or Explorer(settings or Settings())
    config = explorer.settings
    max_runs = config.max_runs

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        explorer.jobs.open()
        yield
        explorer.close()

    app = FastAPI(
        title="Kremlinology explorer",
        version=__version__,
        description=(
            "Counterfactual history of the Soviet leadership. Every JSON object is the one the "
            "CLI prints with --json. Results are cached by (scenario sha256, query, runs, seed, "
            "condition); a call whose job takes longer than the server's wait answers 202 with "
            "the job's status, to be polled at /api/jobs/{job_id}."
        ),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.explorer = explorer
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)  # bodies bounded before reading
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    env = Environment(
        loader=PackageLoader("kremlinology.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals |= {"percent": views.percent, "version": __version__}

    @app.exception_handler(ApiError)
    async def api_error(_request: HttpRequest, error: ApiError) -> JSONResponse:
        return JSONResponse(
            {"detail": error.message}, status_code=error.status, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: HttpRequest, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(error, max_runs)}, status_code=422)

    def client(request: HttpRequest) -> str:
        return request.client.host if request.client else "anonymous"

    def status(job: Job) -> dict[str, Any]:
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

    async def result_text(request: Request, http: HttpRequest) -> str | JSONResponse:
        """The stored JSON text of a result: cached, or computed now (202 if it takes long)."""
        text = await run_in_threadpool(explorer.cached_text, request)
        if text is not None:
            return text
        with user_errors():
            job = explorer.submit(request, client(http))
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(job.future)), timeout=config.wait_s
            )
        except TimeoutError:
            headers = {"Location": f"/api/jobs/{job.id}"}
            return JSONResponse(status(job), status_code=202, headers=headers)
        except Exception:
            pass  # the job's state says what went wrong
        if job.state == FAILED:
            code = 500 if job.error_kind == "internal" else 400
            if job.error and job.error.startswith("chronicles are not available"):
                code = 404
            raise ApiError(code, job.error or "failed")
        text = await run_in_threadpool(explorer.cached_text, request)
        return text if text is not None else json.dumps(job.result, allow_nan=False)

    def json_text(text: str) -> Response:
        return Response(text, media_type="application/json")

    # JSON API --------------------------------------------------------------------------------

    ScenarioQ = Annotated[
        str | None,
        Query(max_length=200, description="scenario name (default: the server's scenario)"),
    ]
    catalogue = explorer.scenario().whatifs
    QueryQ = Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description="an intervention, a catalogue id, or free text",
            examples=[catalogue[0].id] if catalogue else None,
        ),
    ]
    RunsQ = Annotated[
        int,
        Query(
            ge=1,
            le=max_runs,
            description=f"timelines (at most {max_runs:,})",
            examples=[min(1000, max_runs)],
        ),
    ]
    SeedQ = Annotated[int, Query(ge=0, le=MAX_SEED, description="random seed")]
    ConditionQ = Annotated[bool, Query(description="condition on the record before the divergence")]

    @app.get("/api/scenarios", response_model=list[ScenarioEntry], tags=["scenarios"])
    def api_scenarios() -> Any:
        """The scenarios this server offers, and whether each one loads."""
        return explorer.scenario_list()

    @app.get(
        "/api/scenario",
        response_model=None,
        tags=["scenarios"],
        responses={200: {"model": ScenarioOut}, **ERRORS},
    )
    def api_scenario(scenario: ScenarioQ = None) -> Any:
        """A scenario: actors with their attributes, events with sources, facts, catalogue."""
        with user_errors():
            return describe_scenario(explorer.scenario(scenario))

    @app.get(
        "/api/whatifs",
        response_model=None,
        tags=["scenarios"],
        responses={200: {"model": list[WhatIf]}, **ERRORS},
    )
    def api_whatifs(scenario: ScenarioQ = None) -> Any:
        """The what-if catalogue (``kremlinology whatifs --json``)."""
        with user_errors():
            return [w.model_dump() for w in explorer.scenario(scenario).whatifs]

    async def whatif_part(
        part: str,
        http: HttpRequest,
        scenario: str | None,
        q: str,
        runs: int,
        seed: int,
        condition: bool,
    ) -> Response:
        """One part of a stored what-if answer, computing it first if needed."""
        with user_errors():
            request = await run_in_threadpool(
                explorer.whatif_request, scenario, q, runs, seed, condition
            )
        text = await result_text(request, http)
        if isinstance(text, Response):
            return text
        return json_text(json.dumps(json.loads(text)[part], allow_nan=False))

    @app.get(
        "/api/whatif",
        response_model=None,
        tags=["results"],
        responses={200: {"model": WhatIfOut}, 202: {"model": JobStatus}, **ERRORS},
    )
    async def api_whatif(
        http: HttpRequest,
        q: QueryQ,
        scenario: ScenarioQ = None,
        runs: RunsQ = config.runs_default,
        seed: SeedQ = 1,
        condition: ConditionQ = True,
    ) -> Response:
        """Answer a what-if on twin worlds (``kremlinology whatif Q --json``)."""
        return await whatif_part("result", http, scenario, q, runs, seed, condition)

    @app.get(
        "/api/families",
        response_model=None,
        tags=["results"],
        responses={200: {"model": list[FamilyOut]}, 202: {"model": JobStatus}, **ERRORS},
    )
    async def api_families(
        http: HttpRequest,
        q: QueryQ,
        scenario: ScenarioQ = None,
        runs: RunsQ = config.runs_default,
        seed: SeedQ = 1,
        condition: ConditionQ = True,
    ) -> Response:
        """The families of what-if timelines, each with its representative's chronicle."""
        return await whatif_part("families", http, scenario, q, runs, seed, condition)

    @app.get(
        "/api/chronicle",
        response_model=None,
        tags=["results"],
        responses={200: {"model": ChronicleOut}, 202: {"model": JobStatus}, **ERRORS},
    )
    async def api_chronicle(
        http: HttpRequest,
        q: QueryQ,
        scenario: ScenarioQ = None,
        runs: RunsQ = config.runs_default,
        seed: SeedQ = 1,
        condition: ConditionQ = True,
        timeline: Annotated[
            int | None, Query(ge=0, description="a timeline (default: a typical one)")
        ] = None,
        pick: Annotated[
            str, Query(max_length=40, description="how to pick a timeline when none is given")
        ] = "typical",
    ) -> Response:
        """One timeline's chronicle in both worlds (``kremlinology chronicle Q --format json``)."""
        with user_errors():
            whatif = await run_in_threadpool(
                explorer.whatif_request, scenario, q, runs, seed, condition
            )
            request = explorer.chronicle_request(whatif, timeline, pick)
        if timeline is None and pick == "typical":
            stored = await run_in_threadpool(explorer.cached, whatif)
            if stored is not None and stored.get("chronicle") is not None:
                return json_text(json.dumps(stored["chronicle"], allow_nan=False))
        text = await result_text(request, http)
        return text if isinstance(text, Response) else json_text(text)

    @app.get(
        "/api/history",
        response_model=None,
        tags=["results"],
        responses={200: {"model": HistoryOut}, 202: {"model": JobStatus}, **ERRORS},
    )
    async def api_history(
        http: HttpRequest,
        scenario: ScenarioQ = None,
        runs: RunsQ = config.runs_default,
        seed: SeedQ = 1,
    ) -> Response:
        """Share of baseline timelines reproducing each fact (``kremlinology history --json``)."""
        with user_errors():
            request = explorer.history_request(scenario, runs, seed)
        text = await result_text(request, http)
        return text if isinstance(text, Response) else json_text(text)

    @app.post(
        "/api/jobs",
        response_model=JobStatus,
        status_code=202,
        tags=["jobs"],
        responses={200: {"model": JobStatus, "description": "already cached"}, **ERRORS},
    )
    def api_submit(http: HttpRequest, body: Annotated[JobRequest, Body()]) -> Any:
        """Start a computation without waiting for it; poll its status at /api/jobs/{job_id}."""
        with user_errors():
            runs = body.runs if body.runs is not None else config.runs_default
            if body.kind == "history":
                request = explorer.history_request(body.scenario, runs, body.seed)
            else:
                request = explorer.whatif_request(
                    body.scenario, body.q, runs, body.seed, body.condition
                )
                if body.kind == "chronicle":
                    request = explorer.chronicle_request(request, body.timeline, body.pick)
            if explorer.cached_text(request) is not None:
                return JSONResponse(cached_status(request), status_code=200)
            return status(explorer.submit(request, client(http)))

    @app.get(
        "/api/jobs/{job_id}",
        response_model=JobStatus,
        tags=["jobs"],
        responses={404: ERRORS[404], 422: ERRORS[422]},
    )
    def api_job(job_id: Annotated[str, PathParam(max_length=64)]) -> Any:
        """A job's state, stage and estimated progress."""
        job = explorer.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job '{job_id}' (finished jobs are forgotten after a while)")
        return status(job)

    @app.get("/api/health", tags=["server"])
    def api_health() -> dict[str, Any]:
        """Liveness: the default scenario, jobs waiting, results stored."""
        return {
            "ok": True,
            "scenario": explorer.default_name,
            "pending": explorer.jobs.pending(),
            "stored": explorer.store.count(),
            "max_runs": max_runs,
        }

    @app.get(
        "/report/{digest}/{name:path}",
        tags=["results"],
        responses={200: {"description": "a report file"}, 404: ERRORS[404]},
    )
    def report_file(digest: str, name: str) -> Response:
        """A file of a what-if's report (report.md, report.bbcode, result.json, charts)."""
        stored = explorer.store.file(digest, name) if DIGEST.match(digest) else None
        if stored is None:
            raise ApiError(404, f"no report file '{name}' for this result")
        inline = stored.media_type.startswith("image/")
        disposition = "inline" if inline else "attachment"
        filename = name.rsplit("/", 1)[-1]
        headers = {"Content-Disposition": f'{disposition}; filename="{filename}"'}
        return Response(stored.data, media_type=stored.media_type, headers=headers)

    # Pages -----------------------------------------------------------------------------------

    def page(
        template: str,
        request: HttpRequest,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        body = env.get_template(template).render(
            path=request.url.path,
            scenarios=explorer.scenario_list(),
            max_runs=max_runs,
            default_runs=config.runs_page,
            **context,
        )
        extra = {"Cache-Control": "no-store"} if context.get("job") else {}
        return HTMLResponse(body, status_code=status_code, headers=extra | (headers or {}))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/whatif", response_class=HTMLResponse, include_in_schema=False)
    def whatif_page(request: HttpRequest) -> Response:
        params = request.query_params
        form = form_values(params, config.runs_page)
        context: dict[str, Any] = {"form": form, "error": None, "job": None, "result": None}
        try:
            loaded = explorer.scenario(form["scenario"] or None)
            form["scenario"] = loaded.name
            context["catalogue"] = loaded.whatifs
        except KremlinologyError as error:
            context |= {"catalogue": [], "error": str(error)}
            return page("whatif.html", request, status_of(error), **context)
        if not form["q"]:
            return page("whatif.html", request, **context)
        try:
            runs, seed = whole(form["runs"], "runs"), whole(form["seed"], "seed")
            wanted = explorer.whatif_request(loaded.name, form["q"], runs, seed, form["condition"])
        except (KremlinologyError, ValueError) as error:
            context["error"] = str(error)
            return page("whatif.html", request, status_of(error), **context)
        canonical = "/whatif?" + urlencode(wanted.params())
        if str(request.url.path) == "/" or params.get("form") or canonical != path_qs(request):
            return RedirectResponse(canonical, status_code=303)
        context["share_url"] = str(request.url)
        stored = explorer.cached(wanted)
        if stored is not None:
            context |= result_context(stored, wanted)
            return page("whatif.html", request, **context)
        try:
            context["job"] = status(explorer.submit(wanted, client(request)))
        except QueueFull as error:
            context["error"] = str(error)
            return page("whatif.html", request, 503, headers=retry_headers(error), **context)
        return page("whatif.html", request, **context)

    def result_context(stored: dict[str, Any], wanted: Request) -> dict[str, Any]:
        result = stored["result"]
        matched = result.get("matched")
        entry = None
        if matched:
            entry = next((w for w in wanted.scenario.whatifs if w.id == matched["id"]), None)
        files = stored.get("files", [])
        base = f"/report/{wanted.key.digest}/"
        downloads = [
            {"label": label, "url": base + name, "name": name}
            for label, name in (
                ("Markdown report", "report.md"),
                ("BBCode report (for forums)", "report.bbcode"),
                ("JSON result", "result.json"),
            )
            if name in files
        ]
        rows, more_rows = views.split_rows(
            views.outcome_rows(result, explorer.outcome_kinds(wanted.scenario))
        )
        families = [
            {"family": f["family"], "story": views.chronicle_parts(f["chronicle"])}
            for f in stored.get("families", [])
            if f.get("chronicle")
        ]
        chronicle = stored.get("chronicle")
        return {
            "result": result,
            "entry": entry,
            "verdict": stored.get("verdict", []),
            "rows": rows,
            "more_rows": more_rows,
            "drivers": views.driver_rows(result, factor_names(wanted.scenario)),
            "chart": views.divergence_chart(result["divergence"]),
            "families": families,
            "chronicle": views.chronicle_parts(chronicle) if chronicle else None,
            "notes": stored.get("notes", []),
            "downloads": downloads,
            "api_url": "/api/whatif?" + urlencode(wanted.params()),
        }

    @app.get("/history", response_class=HTMLResponse, include_in_schema=False)
    def history_page(request: HttpRequest) -> Response:
        params = request.query_params
        form = form_values(params, config.runs_page)
        context: dict[str, Any] = {"form": form, "error": None, "job": None, "report": None}
        try:
            loaded = explorer.scenario(form["scenario"] or None)
            form["scenario"] = loaded.name
            runs, seed = whole(form["runs"], "runs"), whole(form["seed"], "seed")
            wanted = explorer.history_request(loaded.name, runs, seed)
        except (KremlinologyError, ValueError) as error:
            context["error"] = str(error)
            return page("history.html", request, status_of(error), **context)
        canonical = "/history?" + urlencode(wanted.params())
        if params and canonical != path_qs(request):
            return RedirectResponse(canonical, status_code=303)
        context["title"] = loaded.manifest.title
        stored = explorer.cached(wanted)
        if stored is not None:
            context |= {"report": stored, "facts": views.history_rows(stored)}
            return page("history.html", request, **context)
        try:
            context["job"] = status(explorer.submit(wanted, client(request)))
        except QueueFull as error:
            context["error"] = str(error)
            return page("history.html", request, 503, headers=retry_headers(error), **context)
        return page("history.html", request, **context)

    @app.get("/scenario", response_class=HTMLResponse, include_in_schema=False)
    def scenario_page(request: HttpRequest) -> Response:
        name = request.query_params.get("scenario") or None
        try:
            loaded = explorer.scenario(name)
        except KremlinologyError as error:
            form = {"scenario": name or ""}
            return page("scenario.html", request, status_of(error), error=str(error), form=form)
        described = describe_scenario(loaded)
        for actor in described["actors"]:
            actor["lines"] = views.attribute_lines(actor.get("attributes", {}))
        for parameter in described["parameters"]:
            parameter["prior_text"] = views.prior_text(parameter.get("prior", {}))
        return page(
            "scenario.html", request, error=None, s=described, form={"scenario": loaded.name}
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/api-docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: HttpRequest) -> Response:
        spec = app.openapi()
        operations = [
            {"method": method.upper(), "path": path, **operation}
            for path, methods in spec["paths"].items()
            for method, operation in methods.items()
        ]
        return page("api.html", request, operations=operations, form={"scenario": ""})

    return app


def factor_names(scenario: Scenario) -> dict[str, str]:
    """Readable names of the drivers' factors: events' and parameters' labels."""
    names = {f"event {e.id}": e.label for e in scenario.events}
    for parameter in scenario.parameters:
        names[f"parameter {parameter.model.id}"] = parameter.model.label or parameter.model.id
    return names


def path_qs(request: HttpRequest) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def form_values(params: Any, default_runs: int) -> dict[str, Any]:
    """Read a page's parameters as the form shows them (the catalogue pick fills an empty q)."""
    q = (params.get("q") or "").strip() or (params.get("whatif") or "").strip()
    if params.get("form"):
        condition = params.get("condition") in ("on", "true", "1", "yes")
    else:
        condition = (params.get("condition") or "true").lower() not in ("false", "0", "no", "off")
    return {
        "scenario": (params.get("scenario") or "").strip(),
        "q": q,
        "runs": (params.get("runs") or str(default_runs)).strip(),
        "seed": (params.get("seed") or "1").strip(),
        "condition": condition,
    }


def whole(text: str, name: str) -> int:
    """Parse a whole number the way the CLI does (underscores and commas allowed)."""
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not '{text}'") from None


def validation_message(error: RequestValidationError, max_runs: int) -> str:
    """One readable line for FastAPI's parameter errors."""
    parts = []
    for detail in error.errors():
        where = [str(p) for p in detail.get("loc", ()) if p not in ("query", "body", "path")]
        name = ".".join(where) or "request"
        message = str(detail.get("msg", "is not valid"))
        if name == "runs" and detail.get("type") == "less_than_equal":
            message += f" (this server caps runs at {max_runs:,})"
        parts.append(f"{name}: {message}")
    return "; ".join(parts)
