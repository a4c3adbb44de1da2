"""Structured logs: JSON lines when stderr is not a terminal, request ids on every line.

`RequestIdMiddleware` is a pure ASGI middleware (not BaseHTTPMiddleware, which
would buffer and wrap streaming responses): it takes the caller's
`X-Request-ID` when it is sane or makes one, echoes it on the response, keeps
it in a context variable for every log line written while serving the request,
and writes one access line per request when the response ends. The JSON
formatter is hand-written because it is a dozen lines on orjson, which is
already a dependency; a logging library would add more than it saves.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar, Token
from typing import IO, Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replaydeck.ingest.redact import default_rules, redact_text
from replaydeck.share.masking import (
    CredentialFilter,
    install_log_filter,
    mask_credentials,
    mask_share_path,
)
from replaydeck.web.head import method_of

REQUEST_ID_HEADER = "x-request-id"
_HEADER = REQUEST_ID_HEADER.encode()
request_id: ContextVar[str | None] = ContextVar("replaydeck_request_id", default=None)
access_log = logging.getLogger("replaydeck.access")

# Accept a caller's id only if it is short and plain, so a header cannot
# smuggle newlines or megabytes into the logs.
_VALID_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# Attributes every LogRecord has; anything else came from `extra=` and is logged.
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def new_request_id() -> str:
    return secrets.token_hex(16)  # uuid4's randomness, without building a UUID


def accept_request_id(value: str | None) -> str:
    if value is not None and _VALID_ID.fullmatch(value):
        return value
    return new_request_id()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{text} [{rid}]" if rid else text


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """One handler on the root logger; uvicorn's loggers propagate to it.

    `json=None` picks JSON when the stream is not a terminal (a container, a
    service manager, a file) and readable text when a person is watching.
    Run uvicorn with `log_config=None` so it keeps these handlers.
    """
    stream = stream if stream is not None else sys.stderr
    if json is None:
        json = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(RequestIdFilter())
    # Every line, whatever logger wrote it: no share token or query-string secret.
    handler.addFilter(CredentialFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_replaydeck", False)]:
        root.removeHandler(old)
    handler._replaydeck = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Our access line names the request id; uvicorn's would be a second line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic narrates every start-up ("Context impl SQLiteImpl." …); only its
    # warnings are news to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    install_log_filter()
    return handler


def bind_request_id(scope: Scope) -> tuple[str, Token[str | None]]:
    """The request's id (the caller's, when sane) set for its log lines; reset the token after."""
    incoming = None
    for name, value in scope["headers"]:
        if name == _HEADER:
            incoming = value.decode("latin-1")
            break
    rid = accept_request_id(incoming)
    return rid, request_id.set(rid)


def log_access(scope: Scope, status: int, started: float) -> None:
    """The one access line of a request, written when its response has ended."""
    if not access_log.isEnabledFor(logging.INFO):
        return  # masking paths is not free
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope["path"] + (f"?{query}" if query else "")
    method = method_of(scope)
    access_log.info(
        "%s %s %d",
        method,
        _masked(path),
        status,
        extra={
            "method": method,
            "path": _masked(scope["path"]),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )


def _masked(path: str) -> str:
    # Share tokens, and secrets a client put in a path (a session id that is an
    # API key is refused, but its request is still logged).
    return mask_share_path(redact_text(mask_credentials(path), default_rules())[0])


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid, token = bind_request_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != _HEADER]
                headers.append((_HEADER, rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_access(scope, status, started)
            request_id.reset(token)
