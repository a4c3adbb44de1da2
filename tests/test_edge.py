"""The checks in front of every route (app/replaydeck/web/edge.py), through a real server:
a trusted Host, no cross-origin writes, and bodies that declare their type."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.servers import RunningServer, serve

EVENT = {"type": "status", "data": {"label": "hi"}}
PROBLEM = "application/problem+json"


@contextmanager
def client_of(settings: Settings, **changes: Any) -> Iterator[httpx.Client]:
    """A client of a real server made with these settings changed."""
    with (
        serve(create_app(settings.model_copy(update=changes))) as running,
        httpx.Client(base_url=running.url, timeout=10) as client,
    ):
        yield client


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def record(http: httpx.Client, session_id: str = "s1") -> str:
    """An ended session and a share token for it."""
    events = [EVENT, {"type": "final", "data": {}}]
    assert http.post(f"/v1/sessions/{session_id}/events", json=events).status_code == 200
    shared = http.post(f"/v1/sessions/{session_id}/shares", json={})
    assert shared.status_code == 201
    return str(shared.json()["url"]).rsplit("/", 1)[1]


def assert_problem(response: httpx.Response, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["type"] == f"urn:replaydeck:problem:{slug}"
    return str(body["detail"])


# ------------------------------------------------------------------------- Host


def test_a_forged_host_is_refused_on_every_kind_of_route(http: httpx.Client) -> None:
    token = record(http)
    forged = {"Host": "evil.example"}
    requests = [
        ("POST", "/v1/sessions/s1/shares"),  # would have become the share URL's base
        ("POST", "/v1/sessions/s2/events"),  # the lean append route
        ("GET", "/v1/sessions/s1/stream"),  # the lean stream routes
        ("GET", "/v1/sessions/s1/replay?speed=max"),
        (
            "GET",
            f"/r/{token}/stream",
        ),
        ("GET", "/v1/sessions/s1"),  # the framework's routes
        ("GET", "/v1/sessions/"),  # would have redirected to http://evil.example/...
        ("GET", f"/r/{token}"),
        ("GET", "/healthz"),
        ("GET", "/nowhere"),
    ]
    for method, path in requests:
        refused = http.request(method, path, headers=forged, json=EVENT)
        detail = assert_problem(refused, 400, "untrusted-host")
        assert "'evil.example'" in detail
        assert "REPLAYDECK_TRUSTED_HOSTS" in detail
        assert token not in refused.text
    assert http.get("/v1/sessions/s2").status_code == 404  # the forged append stored nothing
    # The port is not part of the check; a DNS-rebinding name on the right port is refused.
    port = http.base_url.port
    assert_problem(
        http.get("/healthz", headers={"Host": f"evil.example:{port}"}), 400, "untrusted-host"
    )
    for malformed in ("[::1", "localhost:x", ":80"):
        assert_problem(http.get("/healthz", headers={"Host": malformed}), 400, "untrusted-host")


def test_the_servers_own_names_are_answered_and_shape_urls(http: httpx.Client) -> None:
    record(http)
    port = http.base_url.port
    for host in (
        f"localhost:{port}",
        f"127.0.0.1:{port}",
        f"[::1]:{port}",
        "LocalHost",
        "localhost",
    ):
        shared = http.post("/v1/sessions/s1/shares", json={}, headers={"Host": host})
        assert shared.status_code == 201, (host, shared.text)
        assert shared.json()["url"].startswith(f"http://{host}/r/")
    redirected = http.get("/v1/sessions/", headers={"Host": f"localhost:{port}"})
    assert redirected.status_code == 307
    assert redirected.headers["location"] == f"http://localhost:{port}/v1/sessions"


def test_trusted_hosts_and_the_public_url_add_names(settings: Settings) -> None:
    with client_of(
        settings,
        trusted_hosts=["replays.example.com", "*.corp.example"],
        public_url="https://public.example",
    ) as http:
        for host in ("replays.example.com", "a.corp.example", "public.example", "localhost"):
            assert http.get("/healthz", headers={"Host": host}).status_code == 200, host
        for host in ("corp.example", "replays.example.com.evil", "evil.example"):
            assert_problem(http.get("/healthz", headers={"Host": host}), 400, "untrusted-host")
    with client_of(settings, trusted_hosts=["*"]) as http:
        assert http.get("/healthz", headers={"Host": "anything.example"}).status_code == 200


def test_bad_trusted_hosts_and_origins_are_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"REPLAYDECK_TRUSTED_HOSTS entry 'https://x\.example'"):
        Settings(trusted_hosts=["https://x.example"])
    with pytest.raises(ValueError, match=r"REPLAYDECK_ALLOWED_ORIGINS entry 'localhost:3000'"):
        Settings(allowed_origins=["localhost:3000"])
    assert Settings(trusted_hosts=["[::1]", "Example.COM"]).trusted_hosts == ["::1", "example.com"]
    assert Settings(allowed_origins=["HTTP://Localhost:3000/"]).allowed_origins == [
        "http://localhost:3000"
    ]


# ---------------------------------------------------------- cross-origin writes

CROSS_SITE = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}


def test_writes_from_other_origins_are_refused_on_every_write_route(http: httpx.Client) -> None:
    record(http)
    shares = http.post("/v1/sessions/s1/shares", json={})
    share_id = shares.json()["id"]
    writes = [
        ("POST", "/v1/sessions/s2/events", EVENT),
        ("POST", "/v1/sessions", {"id": "s3"}),
        ("POST", "/v1/sessions/s1/shares", {}),
        ("DELETE", f"/v1/shares/{share_id}", None),
        ("DELETE", "/v1/sessions/s1", None),
    ]
    for headers in (
        CROSS_SITE,
        {"Origin": "http://evil.example"},  # a browser that sends no Sec-Fetch-Site
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},  # a sandboxed frame or a file: page
    ):
        for method, path, body in writes:
            refused = http.request(method, path, json=body, headers=headers)
            detail = assert_problem(refused, 403, "cross-origin-write")
            assert "REPLAYDECK_ALLOWED_ORIGINS" in detail
    assert http.get("/v1/sessions/s2").status_code == 404
    assert http.get("/v1/sessions/s3").status_code == 404
    assert http.get("/v1/sessions/s1").status_code == 200
    # Reads are not writes: the browser keeps another origin from reading the answer.
    assert http.get("/v1/sessions/s1", headers=CROSS_SITE).status_code == 200


def test_same_origin_and_non_browser_writes_pass(http: httpx.Client) -> None:
    own = str(http.base_url).rstrip("/")
    for i, headers in enumerate(
        [
            {},  # curl, SDKs
            {"Sec-Fetch-Site": "same-origin", "Origin": own},
            {"Sec-Fetch-Site": "none"},  # typed by the user
            {"Origin": own},
        ]
    ):
        appended = http.post(f"/v1/sessions/s{i}/events", json=EVENT, headers=headers)
        assert appended.status_code == 200, (headers, appended.text)


def test_allowed_origins_may_write_and_get_cors(settings: Settings) -> None:
    origin = "http://localhost:3000"
    with client_of(settings, allowed_origins=[origin]) as http:
        preflight = http.options(
            "/v1/sessions/s1/events",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        allowed = {"Origin": origin, "Sec-Fetch-Site": "same-site"}
        appended = http.post("/v1/sessions/s1/events", json=EVENT, headers=allowed)
        assert appended.status_code == 200
        assert appended.headers["access-control-allow-origin"] == origin
        assert http.delete("/v1/sessions/s1", headers=allowed).status_code == 204
        other = {"Origin": "http://localhost:4000", "Sec-Fetch-Site": "same-site"}
        refused = http.post("/v1/sessions/s1/events", json=EVENT, headers=other)
        assert_problem(refused, 403, "cross-origin-write")


# ------------------------------------------------------------------ body types


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
def test_bodies_must_declare_json(http: httpx.Client, content_type: str | None) -> None:
    body = b'{"type": "status", "data": {"label": "hi"}}'
    headers = {} if content_type is None else {"Content-Type": content_type}
    said = "without a Content-Type" if content_type is None else repr(content_type.split(";")[0])

    appended = http.post("/v1/sessions/s1/events", content=body, headers=headers)
    detail = assert_problem(appended, 415, "unsupported-media-type")
    assert said in detail
    assert "application/json" in detail
    assert "application/x-ndjson" in detail

    created = http.post("/v1/sessions", content=b'{"id": "s2"}', headers=headers)
    detail = assert_problem(created, 415, "unsupported-media-type")
    assert said in detail
    assert "application/json" in detail

    record(http, "s3")
    shared = http.post("/v1/sessions/s3/shares", content=b"{}", headers=headers)
    assert_problem(shared, 415, "unsupported-media-type")

    assert http.get("/v1/sessions/s1").status_code == 404
    assert http.get("/v1/sessions/s2").status_code == 404


def test_declared_json_and_ndjson_are_read(http: httpx.Client) -> None:
    ndjson = b'{"type": "status", "data": {"label": "a"}}\n{"type": "final", "data": {}}\n'
    appended = http.post(
        "/v1/sessions/s1/events", content=ndjson, headers={"Content-Type": "application/x-ndjson"}
    )
    assert appended.json()["last_seq"] == 2
    created = http.post(
        "/v1/sessions",
        content=b'{"id": "s2"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert created.status_code == 201
    # A share needs no body at all.
    assert http.post("/v1/sessions/s1/shares").status_code == 201
    ndjson_share = http.post(
        "/v1/sessions/s1/shares", content=b"{}", headers={"Content-Type": "application/x-ndjson"}
    )
    assert "application/json" in assert_problem(ndjson_share, 415, "unsupported-media-type")
