"""Keep credentials out of logs: share tokens in paths, secrets in URLs.

A share URL is a bearer credential; anyone who reads a log line with `/r/<token>`
can open the session. So is `?api_key=…` or `?token=…` on any URL, whatever the
server does with it, and the password in a database URL. The access lines are
masked where they are written (app/replaydeck/web/logs.py), and every record on
uvicorn's loggers, and every record that reaches the handler `replaydeck serve`
installs, passes through `CredentialFilter`, which rewrites tokens to `[token]`,
and URL passwords and secret-looking query values to `[REDACTED]`.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote

# A path starts the text, follows whitespace or a quote, or follows a URL's host,
# so `/v1/sessions/r/events` (a session named "r") is left alone.
_SHARE_PATH = re.compile(r"(^|[\s\"'(]|//[^/\s\"']+)/r/[^/?#\s\"']+")
MASK = "[token]"
QUERY_MASK = "[REDACTED]"
# One `name=value` of a query string; the value runs to the next separator.
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s\"']+)=([^&;#\s\"']*)")
_WORD = re.compile(r"[^a-z0-9]+")
# The password of a URL's user part: postgresql://user:password@host/db.
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/@:\s\"']*:)[^/@\s\"']+@")
# A name is secret when one of its words is one of these (`api_key`, `X-Amz-Signature`,
# `client_secret`), or when it ends like one (`apikey`, `accesstoken`).
_SECRET_WORDS = frozenset(
    {
        "key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass",
        "passphrase", "sig", "signature", "auth", "authorization", "credential",
        "credentials", "jwt", "sessionid", "cookie",
    }
)  # fmt: skip
_SECRET_ENDINGS = ("key", "token", "secret", "password", "signature", "credential")
# Loggers that print request paths: uvicorn's access log, and its error log,
# which names the path when an ASGI app fails.
LOGGERS = ("uvicorn.access", "uvicorn.error")


def mask_share_path(text: str) -> str:
    """`/r/<token>/events?after=3` → `/r/[token]/events?after=3`, anywhere in text."""
    return _SHARE_PATH.sub(r"\g<1>/r/" + MASK, text)


def secret_name(name: str) -> bool:
    """Whether a query parameter's name looks like it carries a credential."""
    plain = unquote(name).lower()
    words = [word for word in _WORD.split(plain) if word]
    return any(word in _SECRET_WORDS for word in words) or "".join(words).endswith(_SECRET_ENDINGS)


def _mask_param(match: re.Match[str]) -> str:
    if not match[3] or not secret_name(match[2]):
        return match[0]
    return f"{match[1]}{match[2]}={QUERY_MASK}"


def mask_credentials(text: str) -> str:
    """`mask_share_path`, a URL's password, and every secret-looking query value."""
    if "/r/" in text:
        text = mask_share_path(text)
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(r"\g<1>" + QUERY_MASK + "@", text)
    if "=" in text:
        text = _QUERY_PARAM.sub(_mask_param, text)
    return text


def _mask_arg(arg: object) -> object:
    if isinstance(arg, str):
        return mask_credentials(arg)
    if arg is None or isinstance(arg, int | float):
        return arg
    # A URL object (httpx logs its requests' URLs so) prints as its text.
    text = str(arg)
    masked = mask_credentials(text)
    return arg if masked == text else masked


class CredentialFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted is logging's to report
            return True
        masked = mask_credentials(text)
        if masked == text:
            return True
        # Mask the template and each argument, so a formatter that unpacks the
        # arguments (uvicorn's access formatter does) still can; when that does not
        # give the masked text (a secret split between template and argument, as in
        # "?key=%s"), the record carries the masked text alone.
        trial = copy.copy(record)
        if isinstance(record.msg, str):
            trial.msg = mask_credentials(record.msg)
        if isinstance(record.args, tuple):
            trial.args = tuple(_mask_arg(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            trial.args = {key: _mask_arg(value) for key, value in record.args.items()}
        try:
            same = trial.getMessage() == masked
        except Exception:
            same = False
        record.msg, record.args = (trial.msg, trial.args) if same else (masked, None)
        return True


def install_log_filter(names: tuple[str, ...] = LOGGERS) -> None:
    """Idempotent: attach one CredentialFilter to each named logger."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CredentialFilter) for f in logger.filters):
            logger.addFilter(CredentialFilter())
