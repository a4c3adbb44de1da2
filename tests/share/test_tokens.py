from __future__ import annotations

import base64
import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replaydeck.share.masking import install_log_filter, mask_share_path
from replaydeck.share.tokens import ShareClaims, TokenInvalid, sign, verify

KEY = b"k" * 32
NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
LATER = int((NOW + timedelta(days=7)).timestamp())


def claims(session_id: str = "s-1", share_id: str = "sh-1", expires_at: int = LATER) -> ShareClaims:
    return ShareClaims(session_id=session_id, share_id=share_id, expires_at=expires_at)


def reason(token: str, key: bytes = KEY, now: datetime = NOW) -> str:
    with pytest.raises(TokenInvalid) as info:
        verify(token, key, now=now)
    return info.value.reason


def test_round_trip_returns_the_signed_claims() -> None:
    token = sign(claims(), KEY)
    assert verify(token, KEY, now=NOW) == claims()


def test_token_is_url_safe_and_one_dot() -> None:
    token = sign(claims(session_id="sess with spaces/and?query&=é"), KEY)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert verify(token, KEY, now=NOW).session_id == "sess with spaces/and?query&=é"


def test_expired_token_is_refused_at_the_exact_second() -> None:
    token = sign(claims(expires_at=int(NOW.timestamp())), KEY)
    assert reason(token) == "expired"
    one_second_before = NOW - timedelta(seconds=1)
    assert verify(token, KEY, now=one_second_before).expires_at == int(NOW.timestamp())


def test_wrong_key_is_refused() -> None:
    assert reason(sign(claims(), KEY), key=b"another key") == "bad signature"


def test_swapping_the_session_in_the_payload_breaks_the_signature() -> None:
    token = sign(claims(session_id="mine"), KEY)
    payload, signature = token.split(".")
    forged_body = json.dumps([1, "theirs", "sh-1", LATER], separators=(",", ":")).encode()
    forged_payload = base64.urlsafe_b64encode(forged_body).rstrip(b"=").decode()
    assert forged_payload != payload
    assert reason(f"{forged_payload}.{signature}") == "bad signature"


def test_signature_of_another_share_does_not_transfer() -> None:
    mine = sign(claims(share_id="a"), KEY)
    theirs = sign(claims(share_id="b"), KEY)
    assert reason(mine.split(".")[0] + "." + theirs.split(".")[1]) == "bad signature"


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "a b.c",
        "abc=.def",
        "abc.def=",
        "ab+c.de/f",
        "x" * 2000,
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenInvalid):
        verify(token, KEY, now=NOW)


def test_last_character_variants_of_the_signature_are_refused() -> None:
    # A 32-byte MAC in base64 leaves spare bits in the last character; only the
    # canonical spelling may pass.
    token = sign(claims(), KEY)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    variants = [token[:-1] + c for c in alphabet if c != token[-1]]
    for variant in variants:
        with pytest.raises(TokenInvalid):
            verify(variant, KEY, now=NOW)


def test_empty_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign(claims(), b"")


@given(
    session_id=st.text(min_size=1, max_size=60),
    share_id=st.text(alphabet="abcdef0123456789", min_size=1, max_size=32),
    position=st.integers(min_value=0),
    replacement=st.sampled_from("Aa0_-Zz9"),
)
def test_any_single_character_change_is_refused(
    session_id: str, share_id: str, position: int, replacement: str
) -> None:
    token = sign(claims(session_id=session_id, share_id=share_id), KEY)
    index = position % len(token)
    tampered = token[:index] + replacement + token[index + 1 :]
    if tampered == token:
        return
    with pytest.raises(TokenInvalid):
        verify(tampered, KEY, now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/r/abc.def", "/r/[token]"),
        ("/r/abc.def/events?after=3", "/r/[token]/events?after=3"),
        ('1.2.3.4 - "GET /r/a_b-c.d HTTP/1.1" 200', '1.2.3.4 - "GET /r/[token] HTTP/1.1" 200'),
        ("see https://x.example/r/abc.def now", "see https://x.example/r/[token] now"),
        ("/v1/sessions/r/events", "/v1/sessions/r/events"),
        ("/healthz", "/healthz"),
    ],
)
def test_mask_share_path(text: str, expected: str) -> None:
    assert mask_share_path(text) == expected


def test_log_filter_masks_lazy_arguments() -> None:
    token = sign(claims(), KEY)
    logger = logging.getLogger("test.share.masking")
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        install_log_filter(("test.share.masking",))
        install_log_filter(("test.share.masking",))
        assert len(logger.filters) == 1
        logger.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/r/{token}", "1.1", 200)
    finally:
        logger.removeHandler(handler)
    assert token not in stream.getvalue()
    assert '"GET /r/[token] HTTP/1.1" 200' in stream.getvalue()
