"""Structured logs: JSON lines off a terminal, request ids from X-Request-ID."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import httpx
import orjson
import pytest

from replaydeck.logs import JsonFormatter, RequestIdFilter, accept_request_id, configure_logging


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
