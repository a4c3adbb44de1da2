"""Structured logs: JSON lines off a terminal, request ids from X-Request-ID."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI

from replaydeck.share.masking import mask_credentials, secret_name
from replaydeck.web.logs import JsonFormatter, RequestIdFilter, accept_request_id, configure_logging
from tests.reliability.procs import ServerProcess
from tests.servers import serve
from tests.store.pg import pg_template, pg_url

# Fixtures used here by name.
__all__ = ["pg_template", "pg_url"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logs configured as `replaydeck serve` does, into a buffer; undone afterwards."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging(stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("uvicorn.access").setLevel(logging.NOTSET)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_level_logger_extras_and_errors() -> None:
    record = logging.getLogger("replaydeck.x").makeRecord(
        "replaydeck.x", logging.ERROR, __file__, 1, "failed %s", ("twice",), None
    )
    record.session_id = "s1"
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    RequestIdFilter().filter(record)
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["level"] == "error"
    assert entry["logger"] == "replaydeck.x"
    assert entry["message"] == "failed twice"
    assert entry["session_id"] == "s1"
    assert "ValueError: boom" in entry["error"]
    assert str(entry["ts"]).endswith("Z")
    assert "request_id" not in entry  # outside a request


def test_json_off_a_terminal_text_on_one() -> None:
    root = logging.getLogger()
    level = root.level
    for stream, is_json in ((io.StringIO(), True), (Terminal(), False)):
        handler = configure_logging(stream=stream)
        try:
            logging.getLogger("replaydeck.test").warning("hello")
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
        text = stream.getvalue().strip()
        assert text.startswith("{") is is_json
        assert "hello" in text


def test_only_plain_short_request_ids_are_accepted() -> None:
    assert accept_request_id("req-42.a:b") == "req-42.a:b"
    for bad in (None, "", "two words", "x" * 129, "line\nbreak"):
        made = accept_request_id(bad)
        assert made != bad
        assert len(made) == 32


@pytest.mark.anyio
async def test_requests_get_an_id_echoed_and_logged(
    client: httpx.AsyncClient, captured: io.StringIO
) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    made = await client.get("/v1/sessions/missing")
    share = await client.get("/r/secret-token/events")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    access = [e for e in lines(captured) if e["logger"] == "replaydeck.access"]
    assert [(e["request_id"], e["status"]) for e in access[:2]] == [
        ("abc-123", 200),
        (made.headers["x-request-id"], 404),
    ]
    assert access[1]["message"] == "GET /v1/sessions/missing 404"
    # Share tokens are credentials and never reach the log.
    assert access[2]["message"] == "GET /r/[token]/events 404"
    assert "secret-token" not in orjson.dumps(access).decode()
    assert access[2]["request_id"] == share.headers["x-request-id"]


SECRET = "rdk_do-not-log-me"


def test_query_secrets_never_reach_a_log_line(app: FastAPI, captured: io.StringIO) -> None:
    with (
        serve(app, log_config=None, access_log=True) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        # uvicorn's own access log on as well, as someone running the app themselves might.
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
        events = [{"type": "status", "data": {"label": "x"}}, {"type": "final", "data": {}}]
        # The append and stream routes are served in front of the middleware stack,
        # with their own access line; the session read goes through FastAPI.
        appended = http.post(f"/v1/sessions/s1/events?api_key={SECRET}", json=events)
        assert appended.status_code == 200
        http.get(f"/v1/sessions/s1?after=0&access_token={SECRET}&X-Amz-Signature={SECRET}")
        assert http.get(f"/v1/sessions/s1/stream?after=2&token={SECRET}").status_code == 204
        http.get(f"/v1/sessions?limit=5&apiKey={SECRET}&client_secret={SECRET}")
        http.get(f"/r/{SECRET}/events?password={SECRET}")
        logging.getLogger("anyone").warning("fetched https://x.example/v1?key=%s", SECRET)
    text = captured.getvalue()
    assert SECRET not in text
    messages = [str(e["message"]) for e in lines(captured)]
    assert "POST /v1/sessions/s1/events?api_key=[REDACTED] 200" in messages
    assert "GET /v1/sessions?limit=5&apiKey=[REDACTED]&client_secret=[REDACTED] 200" in messages
    # uvicorn's line for the same request, through its own logger.
    assert any('"GET /v1/sessions/s1?after=0&access_token=[REDACTED]&' in m for m in messages)
    assert "GET /v1/sessions/s1/stream?after=2&token=[REDACTED] 204" in messages
    assert "fetched https://x.example/v1?key=[REDACTED]" in messages
    # httpx's own log line of each request (this test's client) names the URL object.
    assert any(m.startswith("HTTP Request: POST http://127.0.0.1:") for m in messages)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True), ("key", True), ("token", True), ("access_token", True),
        ("refresh-token", True), ("secret", True), ("client_secret", True),
        ("password", True), ("pwd", True), ("sig", True), ("X-Amz-Signature", True),
        ("X-Amz-Credential", True), ("apikey", True), ("accessToken", True),
        ("api%5Fkey", True), ("auth", True),
        ("after", False), ("limit", False), ("speed", False), ("from", False),
        ("to", False), ("types", False), ("max_gap_ms", False), ("cursor", False),
        ("status", False), ("metadata", False), ("max_tokens", False),
    ],
)  # fmt: skip
def test_secret_query_parameter_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret
    masked = mask_credentials(f"GET /v1/x?a=1&{name}=value&b=2")
    assert ("value" not in masked) is secret
    assert masked.startswith("GET /v1/x?a=1&")
    assert masked.endswith("&b=2")


@pytest.mark.postgres
def test_the_database_password_never_reaches_the_output(pg_url: str, tmp_path: Path) -> None:
    # Trust auth ignores the password, so this URL still connects.
    url = pg_url.replace("://postgres@", "://postgres:hunter2-secret@")
    assert "hunter2-secret" in url
    server = ServerProcess(url, tmp_path / "serve.log")
    try:
        server.start()
    finally:
        server.stop()
    output = (tmp_path / "serve.log").read_text()
    assert "(database: postgresql+asyncpg://postgres:[REDACTED]@" in output
    assert "hunter2-secret" not in output


def test_url_passwords_are_masked_in_log_text() -> None:
    text = "LISTEN failed for postgresql://app:s3cret@db:5432/x and https://u:p@h/y?token=t"
    assert mask_credentials(text) == (
        "LISTEN failed for postgresql://app:[REDACTED]@db:5432/x and "
        "https://u:[REDACTED]@h/y?token=[REDACTED]"
    )
