"""Share tokens: HMAC-SHA256 over (session, share id, expiry), url-safe, pure.

A token is ``<payload>.<signature>``: the payload is base64url of the compact JSON
``[1, session_id, share_id, expires_at_epoch_seconds]`` and the signature is
base64url of HMAC-SHA256(key, DOMAIN + payload). The session id travels inside
the token so that verification needs no database; the shares table is consulted
afterwards only for revocation.

Hand-written on the standard library's ``hmac`` rather than with a token library
because the whole format is these two functions, and it keeps the checks exactly
as strict as the route needs (one canonical spelling per token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = 1
# Domain separation: this key signs nothing else, but if it ever does, a share
# signature can never be replayed as one of another kind.
DOMAIN = b"replaydeck.share.v1\n"
MAX_TOKEN_LENGTH = 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class TokenInvalid(ValueError):
    """Why a token was refused. Routes must not reveal the reason to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ShareClaims:
    session_id: str
    share_id: str
    expires_at: int  # epoch seconds, UTC

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, key: bytes) -> str:
    mac = hmac.new(key, DOMAIN + payload.encode("ascii"), hashlib.sha256)
    return _b64encode(mac.digest())


def sign(claims: ShareClaims, key: bytes) -> str:
    if not key:
        raise ValueError("the share signing key must not be empty")
    body = [VERSION, claims.session_id, claims.share_id, claims.expires_at]
    payload = _b64encode(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_signature(payload, key)}"


def verify(token: str, key: bytes, *, now: datetime) -> ShareClaims:
    """Return the token's claims, or raise TokenInvalid (tampered, malformed, expired)."""
    if not key:
        raise ValueError("the share signing key must not be empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid("too long")
    payload, dot, signature = token.partition(".")
    if not dot or not _B64URL.fullmatch(payload) or not _B64URL.fullmatch(signature):
        raise TokenInvalid("malformed")
    # Compare the whole encoded signature, not decoded bytes: base64 has spare
    # bits in its last character, so decoding would accept several spellings.
    if not hmac.compare_digest(signature, _signature(payload, key)):
        raise TokenInvalid("bad signature")
    claims = _parse_payload(payload)
    if claims.expires_at <= now.timestamp():
        raise TokenInvalid("expired")
    return claims


def _parse_payload(payload: str) -> ShareClaims:
    # Only reached with a valid signature, so a failure here means the signing
    # side changed format; still refuse cleanly rather than raise a 500.
    try:
        body = json.loads(_b64decode(payload))
    except ValueError as e:
        raise TokenInvalid("undecodable payload") from e
    match body:
        case [int(version), str(session_id), str(share_id), int(expires_at)] if version == VERSION:
            return ShareClaims(session_id, share_id, expires_at)
        case _:
            raise TokenInvalid("unknown payload shape")
