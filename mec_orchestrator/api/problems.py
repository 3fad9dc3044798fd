"""Every error the API answers is an RFC 7807 ProblemDetails, as the ETSI files define it.

Bad input gets a 4xx that names what is wrong (the field, the state, the id), never a 5xx: the
request validation error handler turns pydantic's locations into field paths, unknown routes
and methods become 404/405 problems, bodies over the limit 413. A 500 is still a ProblemDetails
(and logged with its traceback), and a test fuzzes every operation to keep it from happening.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
ABOUT_BLANK = "about:blank"


class ProblemDetails(BaseModel):
    """RFC 7807 problem details (the ETSI `ProblemDetails` schema)."""

    model_config = ConfigDict(extra="forbid")

    type: str = ABOUT_BLANK
    title: str
    status: int
    detail: str
    instance: str | None = None


class ProblemError(Exception):
    """Raised by handlers and dependencies: answered as a ProblemDetails with this status."""

    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}


ERROR_STATUSES = {
    400: "Bad Request: a parameter or the body is wrong (the detail names the field)",
    401: "Unauthorized: no bearer token, or one the Kubernetes API server does not accept",
    403: "Forbidden: Kubernetes RBAC does not allow the caller this call",
    404: "Not Found: no such resource",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict: the resource is not in a state that allows this call",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests: the Kubernetes API server asks to slow down (see Retry-After)",
    503: "Service Unavailable: the orchestrator is starting or standing by",
}


def documented_errors() -> dict[int | str, dict[str, Any]]:
    """The error answers every ETSI operation may give, for FastAPI's `responses=`."""
    return {
        status: {
            "description": text,
            "model": ProblemDetails,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for status, text in ERROR_STATUSES.items()
    }


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "Not Found", f"{what} does not exist")


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, "Conflict", detail)


def bad_request(detail: str) -> ProblemError:
    return ProblemError(400, "Bad Request", detail)


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetails(title=title, status=status, detail=detail, instance=request.url.path)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_path(location: Sequence[int | str]) -> str:
    """Pydantic's error location as a field path: body.appDId, query.filter, path.appDId."""
    parts = [str(p) for p in location]
    text = parts[0] if parts else ""
    for part in parts[1:]:
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


def describe_validation(errors: Sequence[Any]) -> str:
    described = []
    for error in errors[:10]:
        where = field_path(error.get("loc", ()))
        described.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(described) + more


def install(app: FastAPI) -> None:
    """Answer every error of `app` as a ProblemDetails."""

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(request, error.status, error.title, error.detail, error.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(request, 400, "Bad Request", describe_validation(error.errors()))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> JSONResponse:
        titles = {404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        if error.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        if error.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        headers = dict(error.headers) if error.headers else None
        title = titles.get(error.status_code, "Error")
        return problem_response(request, error.status_code, title, detail, headers)

    @app.exception_handler(Exception)
    async def on_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem_response(
            request, 500, "Internal Server Error", f"{type(error).__name__} while serving"
        )
