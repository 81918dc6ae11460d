"""What every route may depend on (FastAPI ``Depends``): the app's explorer and its parts.

The app built by ``create_app`` keeps one :class:`Explorer` (scenarios, result store, job queue)
and one :class:`Pages` (the templates) in ``app.state``; a route names what it needs with the
``Annotated`` aliases below, so it can be read and tested on its own (a test may override any of
them with ``app.dependency_overrides``).
"""

from typing import Annotated

from fastapi import Depends
from fastapi import Request as HttpRequest

from kremlinology.web.jobs import JobQueue
from kremlinology.web.pages import Pages
from kremlinology.web.service import Explorer, Settings
from kremlinology.web.store import ResultStore


def get_explorer(request: HttpRequest) -> Explorer:
    """The explorer of the app serving this request."""
    explorer: Explorer = request.app.state.explorer
    return explorer


def get_settings(explorer: Annotated[Explorer, Depends(get_explorer)]) -> Settings:
    """The server's settings (limits, defaults)."""
    return explorer.settings


def get_store(explorer: Annotated[Explorer, Depends(get_explorer)]) -> ResultStore:
    """The result store (cached answers and report files)."""
    return explorer.store


def get_jobs(explorer: Annotated[Explorer, Depends(get_explorer)]) -> JobQueue:
    """The job queue."""
    return explorer.jobs


def get_pages(request: HttpRequest) -> Pages:
    """The page renderer of the app serving this request."""
    pages: Pages = request.app.state.pages
    return pages


def client_of(request: HttpRequest) -> str:
    """Who asks (for the queue's turn-taking): the client's address."""
    return request.client.host if request.client else "anonymous"


ExplorerDep = Annotated[Explorer, Depends(get_explorer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ResultStore, Depends(get_store)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]
PagesDep = Annotated[Pages, Depends(get_pages)]
ClientDep = Annotated[str, Depends(client_of)]
