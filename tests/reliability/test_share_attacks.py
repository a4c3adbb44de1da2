"""Share-link attacks: mutated, forged, expired, revoked and transplanted tokens.

Every refusal must look the same (status, headers that matter, body), so a
caller learns nothing about why; and a token for session A must never return
session B's data, whatever is done to it.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import anyio
import httpx
import pytest

from replaydeck.config import Settings
from replaydeck.share.service import signing_key
from replaydeck.share.tokens import ShareClaims, sign
from replaydeck.web.app import create_app
from tests.reliability.soak import size

MUTATIONS = size(10_000, 100_000)
A_MARK = "alpha-only-text"
B_MARK = "bravo-only-text"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/%~"

pytestmark = pytest.mark.anyio


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    """The whole app in-process: 10,000 requests through sockets would take a minute."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/share.db")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, settings


def mutate(token: str, rng: random.Random) -> str:
    """One random corruption of a token, from bit flips to structural edits."""
    kind = rng.randrange(9)
    chars = list(token)
    i = rng.randrange(len(chars))
    if kind == 0:  # substitute one character
        chars[i] = rng.choice(ALPHABET)
    elif kind == 1:  # flip one bit of the decoded signature or payload
        part = rng.randrange(2)
        pieces = token.split(".")
        raw = bytearray(base64.urlsafe_b64decode(pieces[part] + "=" * (-len(pieces[part]) % 4)))
        bit = rng.randrange(len(raw) * 8)
        raw[bit // 8] ^= 1 << (bit % 8)
        pieces[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
        return ".".join(pieces)
    elif kind == 2:  # delete one character
        del chars[i]
    elif kind == 3:  # insert one character
        chars.insert(i, rng.choice(ALPHABET))
    elif kind == 4:  # truncate
        return token[: rng.randrange(len(token))]
    elif kind == 5:  # append garbage or padding
        return token + rng.choice(["=", "==", ".", "a", "%00", "." + token])
    elif kind == 6:  # swap case of a run
        j = min(len(chars), i + rng.randint(1, 8))
        chars[i:j] = [c.swapcase() for c in chars[i:j]]
    elif kind == 7:  # swap payload and signature
        payload, _, signature = token.partition(".")
        return f"{signature}.{payload}"
    else:  # shuffle a window
        j = min(len(chars), i + rng.randint(2, 6))
        window = chars[i:j]
        rng.shuffle(window)
        chars[i:j] = window
    return "".join(chars)


def fingerprint(response: httpx.Response) -> tuple[int, str, bytes]:
    return response.status_code, response.headers.get("content-type", ""), response.content


async def test_share_tokens_under_attack(shared: tuple[httpx.AsyncClient, Settings]) -> None:
    client, settings = shared
    key = signing_key(settings)
    for session_id, mark in (("sess-a", A_MARK), ("sess-b", B_MARK)):
        response = await client.post(
            f"/v1/sessions/{session_id}/events",
            json=[{"type": "message.delta", "data": {"text": mark}}, {"type": "final"}],
        )
        assert response.status_code == 200
    token_a = (await client.post("/v1/sessions/sess-a/shares")).json()["url"].rsplit("/", 1)[1]
    token_b = (await client.post("/v1/sessions/sess-b/shares")).json()["url"].rsplit("/", 1)[1]
    revoked = (await client.post("/v1/sessions/sess-a/shares")).json()
    await client.delete(f"/v1/shares/{revoked['id']}")
    payload_a, _, signature_a = token_a.partition(".")
    payload_b, _, signature_b = token_b.partition(".")
    share_a_id = (await client.get(f"/r/{token_a}/session")).json()["id"]
    assert share_a_id == "sess-a"

    # Hand-made attacks, besides the random mutations below.
    crafted = {
        "revoked": revoked["url"].rsplit("/", 1)[1],
        "expired, validly signed": sign(
            ShareClaims("sess-a", "sh_unknown", int(time.time()) - 1), key
        ),
        "unknown share id, validly signed": sign(
            ShareClaims("sess-a", "sh_unknown", int(time.time()) + 3600), key
        ),
        "B's payload with A's signature": f"{payload_b}.{signature_a}",
        "A's payload with B's signature": f"{payload_a}.{signature_b}",
        "signed with another key": sign(
            ShareClaims("sess-b", "sh_x", int(time.time()) + 3600), b"k" * 32
        ),
        "empty signature": f"{payload_a}.",
        "no signature": payload_a,
        "padded": token_a + "==",
    }

    rng = random.Random(10)
    attempts: list[tuple[str, str]] = list(crafted.items())
    while len(attempts) < MUTATIONS + len(crafted):
        mutated = mutate(token_a, rng)
        # A "/", even escaped as "%2F", changes which path is asked for, not
        # which token: the router's own 404 answers those.
        if mutated and mutated != token_a and "/" not in unquote(mutated):
            attempts.append(("mutation", mutated))

    results: dict[tuple[int, str, bytes], int] = {}
    accepted: list[tuple[str, str]] = []
    limiter = anyio.Semaphore(16)

    async def attack(label: str, token: str, endpoint: str) -> None:
        async with limiter:
            response = await client.get(f"/r/{token}/{endpoint}")
        if response.status_code == 200:
            accepted.append((label, token))
        assert B_MARK.encode() not in response.content, (label, token)
        key_ = fingerprint(response)
        results[key_] = results.get(key_, 0) + 1

    async with anyio.create_task_group() as group:
        for n, (label, token) in enumerate(attempts):
            group.start_soon(attack, label, token, ("session", "events")[n % 2])

    # Where a B token works, it shows B and only B; A's token only A.
    b_events = (await client.get(f"/r/{token_b}/events")).text
    a_events = (await client.get(f"/r/{token_a}/events?session_id=sess-b")).text
    a_replay = (await client.get(f"/r/{token_a}/replay?speed=max")).text
    assert not accepted, accepted[:5]
    # Rejected alike: one status, one content type, one body per endpoint.
    assert len(results) == 2, list(results)[:4]
    assert {status for status, _, _ in results} == {404}
    assert B_MARK in b_events
    assert A_MARK not in b_events
    assert A_MARK in a_events
    assert B_MARK not in a_events
    assert A_MARK in a_replay
    assert B_MARK not in a_replay
    print(
        f"\n[share] {len(attempts)} forged or mutated tokens ({len(crafted)} hand-made): "
        f"0 accepted, all 404 with identical bodies per endpoint; A's token never showed B"
    )
