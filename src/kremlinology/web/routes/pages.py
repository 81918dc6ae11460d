"""The HTML pages for people: ask a what-if, read fidelity to the record, browse a scenario.

A result page is addressed by its query parameters (scenario, q, runs, seed, condition), so its
URL can be shared: it shows the stored result, or starts the job and shows its progress until the
result is there. A form's answer redirects to the canonical URL of its page.
"""

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi import Request as HttpRequest
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kremlinology.scenario.errors import KremlinologyError
from kremlinology.web import views
from kremlinology.web.answers import job_status
from kremlinology.web.deps import ClientDep, ExplorerDep, PagesDep
from kremlinology.web.errors import retry_headers, status_of
from kremlinology.web.jobs import QueueFull
from kremlinology.web.pages import Pages, factor_names, form_values, path_qs, whole
from kremlinology.web.service import Explorer, Request, describe_scenario

router = APIRouter(include_in_schema=False)

DOWNLOADS = (
    ("Markdown report", "report.md"),
    ("BBCode report (for forums)", "report.bbcode"),
    ("JSON result", "result.json"),
)


@router.get("/", response_class=HTMLResponse)
@router.get("/whatif", response_class=HTMLResponse)
def whatif_page(
    request: HttpRequest, explorer: ExplorerDep, pages: PagesDep, client: ClientDep
) -> Response:
    """Ask a what-if; show its stored result, or its job's progress."""
    params = request.query_params
    form = form_values(params, explorer.settings.runs_page)
    context: dict[str, Any] = {"form": form, "error": None, "job": None, "result": None}
    try:
        loaded = explorer.scenario(form["scenario"] or None)
        form["scenario"] = loaded.name
        context["catalogue"] = loaded.whatifs
    except KremlinologyError as error:
        context |= {"catalogue": [], "error": str(error)}
        return pages.render("whatif.html", request, status_of(error), **context)
    if not form["q"]:
        return pages.render("whatif.html", request, **context)
    try:
        runs, seed = whole(form["runs"], "runs"), whole(form["seed"], "seed")
        wanted = explorer.whatif_request(loaded.name, form["q"], runs, seed, form["condition"])
    except (KremlinologyError, ValueError) as error:
        context["error"] = str(error)
        return pages.render("whatif.html", request, status_of(error), **context)
    canonical = "/whatif?" + urlencode(wanted.params())
    if str(request.url.path) == "/" or params.get("form") or canonical != path_qs(request):
        return RedirectResponse(canonical, status_code=303)
    context["share_url"] = str(request.url)
    stored = explorer.cached(wanted)
    if stored is not None:
        context |= result_context(explorer, stored, wanted)
        return pages.render("whatif.html", request, **context)
    return _start(explorer, pages, request, client, wanted, "whatif.html", context)


def _start(
    explorer: Explorer,
    pages: Pages,
    request: HttpRequest,
    client: str,
    wanted: Request,
    template: str,
    context: dict[str, Any],
) -> Response:
    """Start the job of ``wanted`` and show its progress (503 when the queue is full)."""
    try:
        context["job"] = job_status(explorer, explorer.submit(wanted, client))
    except QueueFull as error:
        context["error"] = str(error)
        return pages.render(template, request, 503, headers=retry_headers(error), **context)
    return pages.render(template, request, **context)


def result_context(explorer: Explorer, stored: dict[str, Any], wanted: Request) -> dict[str, Any]:
    """What the what-if page shows of a stored answer."""
    result = stored["result"]
    matched = result.get("matched")
    entry = None
    if matched:
        entry = next((w for w in wanted.scenario.whatifs if w.id == matched["id"]), None)
    base = f"/report/{wanted.key.digest}/"
    # every download is offered: a report file not written yet is written when asked for
    downloads = [{"label": label, "url": base + name, "name": name} for label, name in DOWNLOADS]
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
        "why": views.why_rows(stored.get("why") or [], wanted.scenario),
        "explaining": not stored.get("explained", True),
        "notes": stored.get("notes", []),
        "downloads": downloads,
        "api_url": "/api/whatif?" + urlencode(wanted.params()),
    }


@router.get("/history", response_class=HTMLResponse)
def history_page(
    request: HttpRequest, explorer: ExplorerDep, pages: PagesDep, client: ClientDep
) -> Response:
    """Fidelity to the record: the stored report, or its job's progress."""
    params = request.query_params
    form = form_values(params, explorer.settings.runs_page)
    context: dict[str, Any] = {"form": form, "error": None, "job": None, "report": None}
    try:
        loaded = explorer.scenario(form["scenario"] or None)
        form["scenario"] = loaded.name
        runs, seed = whole(form["runs"], "runs"), whole(form["seed"], "seed")
        wanted = explorer.history_request(loaded.name, runs, seed)
    except (KremlinologyError, ValueError) as error:
        context["error"] = str(error)
        return pages.render("history.html", request, status_of(error), **context)
    canonical = "/history?" + urlencode(wanted.params())
    if params and canonical != path_qs(request):
        return RedirectResponse(canonical, status_code=303)
    context["title"] = loaded.manifest.title
    stored = explorer.cached(wanted)
    if stored is not None:
        context |= {"report": stored, "facts": views.history_rows(stored)}
        return pages.render("history.html", request, **context)
    return _start(explorer, pages, request, client, wanted, "history.html", context)


@router.get("/scenario", response_class=HTMLResponse)
def scenario_page(request: HttpRequest, explorer: ExplorerDep, pages: PagesDep) -> Response:
    """The scenario browser: actors, parameters with their priors, events, facts, catalogue."""
    name = request.query_params.get("scenario") or None
    try:
        loaded = explorer.scenario(name)
    except KremlinologyError as error:
        form = {"scenario": name or ""}
        return pages.render("scenario.html", request, status_of(error), error=str(error), form=form)
    described = describe_scenario(loaded)
    for actor in described["actors"]:
        actor["lines"] = views.attribute_lines(actor.get("attributes", {}))
    for parameter in described["parameters"]:
        parameter["prior_text"] = views.prior_text(parameter.get("prior", {}))
    return pages.render(
        "scenario.html", request, error=None, s=described, form={"scenario": loaded.name}
    )
