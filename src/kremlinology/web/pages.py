"""Rendering the explorer's pages (Jinja2 templates) and reading their forms.

Contract: :meth:`Pages.render` gives every template the path, the scenario list and the run limits
besides its own context; a page that shows a running job is never cached by the browser.
"""

from typing import Any

from fastapi import Request as HttpRequest
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from kremlinology.scenario.model import Scenario
from kremlinology.version import __version__
from kremlinology.web import views
from kremlinology.web.service import Explorer


class Pages:
    """The templates of one explorer."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.env = Environment(
            loader=PackageLoader("kremlinology.web", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals |= {"percent": views.percent, "version": __version__}

    def render(
        self,
        template: str,
        request: HttpRequest,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """The page ``template`` filled with ``context`` (and what every page shows), with
        ``headers`` added to the response."""
        config = self.explorer.settings
        body = self.env.get_template(template).render(
            path=request.url.path,
            scenarios=self.explorer.scenario_list(),
            max_runs=config.max_runs,
            default_runs=config.runs_page,
            **context,
        )
        extra = {"Cache-Control": "no-store"} if context.get("job") else {}
        return HTMLResponse(body, status_code=status_code, headers=extra | (headers or {}))


def factor_names(scenario: Scenario) -> dict[str, str]:
    """Readable names of the drivers' factors: events' and parameters' labels."""
    names = {f"event {e.id}": e.label for e in scenario.events}
    for parameter in scenario.parameters:
        names[f"parameter {parameter.model.id}"] = parameter.model.label or parameter.model.id
    return names


def path_qs(request: HttpRequest) -> str:
    """The request's path with its query string, as a page's canonical URL is compared."""
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
