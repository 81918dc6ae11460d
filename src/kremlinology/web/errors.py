"""How the web app says no: one status code and the CLI's message, as ``{"detail": ...}``.

Contract: bad input is a 4xx, never a traceback. The package's input errors become 400 (404 for
an unknown scenario, 503 with Retry-After for a full queue) through :func:`user_errors`;
FastAPI's parameter errors become 422 with one readable line (:func:`validation_message`).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.exceptions import RequestValidationError

from kremlinology import limits
from kremlinology.scenario.errors import KremlinologyError, UnknownScenarioError
from kremlinology.web.jobs import QueueFull


class ApiError(Exception):
    """An answer other than success: a status code and the one message to show."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = limits.message(message)
        self.headers = headers or {}


def status_of(error: Exception) -> int:
    """The status code of a refused request: 404 unknown, 503 queue full, 400 otherwise."""
    if isinstance(error, UnknownScenarioError):
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


def runs_over_cap(runs: int, max_runs: int) -> RequestValidationError:
    """The 422 of a ``runs`` above the server's cap, worded as FastAPI words its own checks."""
    return RequestValidationError(
        [
            {
                "loc": ("query", "runs"),
                "msg": f"Input should be less than or equal to {max_runs}",
                "type": "less_than_equal",
                "input": runs,
            }
        ]
    )


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
