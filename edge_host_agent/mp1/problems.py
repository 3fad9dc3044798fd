"""Every Mp1 error is an RFC 7807 ProblemDetails (`application/problem+json`), as MEC 011 says.

Bad bodies are 400 with a detail naming the field (`body.appName: Field required`), unknown
app instances and subscriptions 404, unknown routes 404 and wrong methods 405; an unexpected
error is a logged 500, still a ProblemDetails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict"}


class ProblemError(Exception):
    """Raised by the routes: answered as a ProblemDetails with this status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem_response(request: Request, status: int, detail: str) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def describe_validation(errors: Sequence[Any]) -> str:
    """Pydantic's errors as `body.appProfile.userContextEndpoint: <message>`, at most ten."""
    described = []
    for error in errors[:10]:
        parts = [str(part) for part in error.get("loc", ())]
        where = parts[0] if parts else "body"
        for part in parts[1:]:
            where += f"[{part}]" if part.isdigit() else f".{part}"
        described.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(described) + more


def install(app: FastAPI) -> None:
    """Answer every error of `app` as a ProblemDetails."""

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(request, error.status, error.detail)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(request, 400, describe_validation(error.errors()))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        if error.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        if error.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(request, error.status_code, detail)

    @app.exception_handler(Exception)
    async def on_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem_response(request, 500, f"{type(error).__name__} while serving")
