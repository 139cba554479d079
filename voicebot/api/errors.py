"""The one table from the exception tree (``voicebot.errors``) to HTTP answers.

Routes and the record functions they call raise the package's own errors; what
each means to an API client is said here once, not in every router:

    CallbackNotFoundError   404  {"detail": "..."}
    CallbackConflictError   409  {"detail": "..."}
    CallbackLimitError      429  {"detail": "..."}
    CallbackRequestError    422  a validation error on the body field it names
    ReviewQueryError        422  a validation error on the query parameter it names

Any other error is a bug and stays a 500. Validation errors (pydantic's and the
two above) share one shape, FastAPI's ``HTTPValidationError``, and echo the
refused input made printable: a lone surrogate in it would otherwise turn the
422 into a 500 while the answer is encoded.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from voicebot.errors import (
    CallbackConflictError,
    CallbackLimitError,
    CallbackNotFoundError,
    CallbackRequestError,
    ReviewQueryError,
    VoicebotError,
)

STATUS: dict[type[VoicebotError], int] = {
    CallbackNotFoundError: 404,
    CallbackConflictError: 409,
    CallbackLimitError: 429,
}
# Errors about one field of the request, and where that field is.
FIELD_IN: dict[type[CallbackRequestError | ReviewQueryError], str] = {
    CallbackRequestError: "body",
    ReviewQueryError: "query",
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the table on ``app``."""
    for error in STATUS:
        app.add_exception_handler(error, _problem)
    for error in FIELD_IN:
        app.add_exception_handler(error, _field_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


async def _problem(request: Request, exc: Exception) -> JSONResponse:
    """``{"detail": message}`` under the error's status."""
    return JSONResponse({"detail": str(exc)}, status_code=_lookup(STATUS, exc))


async def _field_error(request: Request, exc: Exception) -> JSONResponse:
    """A rule checked past validation (a deadline already past), shaped like pydantic's."""
    assert isinstance(exc, CallbackRequestError | ReviewQueryError)
    where = _lookup(FIELD_IN, exc)
    error = {"type": "value_error", "loc": [where, exc.field], "msg": str(exc), "input": None}
    return _unprocessable([error])


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _unprocessable(list(exc.errors()))


def _lookup(table: dict[Any, Any], exc: Exception) -> Any:
    """The table's entry for ``exc``'s class or its nearest base in the table."""
    return next(table[cls] for cls in type(exc).__mro__ if cls in table)


def _unprocessable(errors: list[Any]) -> JSONResponse:
    return JSONResponse({"detail": _printable(jsonable_encoder(errors))}, status_code=422)


def _printable(value: Any) -> Any:
    """``value`` with every string made encodable as UTF-8 (lone surrogates as ``\\ud800``)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    return value
