"""The default redaction patterns: the shapes of secrets inside any string.

A pattern with a group named ``secret`` replaces only that group; otherwise the
whole match goes. Each takes every character of its value, so nothing of a secret
is left beside the marker.
"""

from __future__ import annotations


def _token(body: str) -> str:
    # A credential starts the text or follows a character that is not a letter or
    # digit, and words glued to it by `_` go with it (`key_sk-…` is one value):
    # `\b` misses a token after `_`, and matching inside a word would cut one.
    return rf"(?:^|[^A-Za-z0-9])(?P<secret>(?:[A-Za-z0-9]+_)*{body})"


# Field names that hold a secret, for text where only a regex can look.
_SECRET_FIELD = (
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|secret[_-]?key|private[_-]?key|credentials?|cookie|authorization|sessionid)"
)

DEFAULT_PATTERNS: tuple[str, ...] = (
    # OpenAI / Anthropic style keys: sk-..., sk-proj-..., sk-ant-...
    _token(r"sk-[A-Za-z0-9_-]{16,}"),
    # Stripe secret and restricted keys, and webhook signing secrets.
    _token(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"),
    _token(r"whsec_[A-Za-z0-9]{20,}"),
    # An HTTP credential inside free text or a header dump (schemes are case-insensitive).
    r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
    r"(?i)\bauthorization:[ \t]*(?:basic|token)[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]{4,})",
    # JSON Web Tokens (and JWE): base64url JSON header, then payload and signature.
    _token(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]+){0,3}"),
    # AWS access key ids (long-term AKIA, temporary ASIA).
    _token(r"(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    # Google API keys.
    _token(r"AIza[A-Za-z0-9_-]{30,}"),
    # Slack bot, user and app tokens.
    _token(r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    _token(r"xapp-[A-Za-z0-9-]{10,}"),
    # replaydeck's own API keys (replaydeck.auth.keys.KEY_PREFIX).
    _token(r"rdk_[A-Za-z0-9_-]{32,}"),
    # GitHub tokens, classic and fine-grained.
    _token(r"gh[pousr]_[A-Za-z0-9]{36,}"),
    _token(r"github_pat_[A-Za-z0-9_]{22,}"),
    # A password in a URL, up to the last @ before the host: postgres://user:pw@host.
    r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:\"'<>]*:(?P<secret>[^\s/?#\"'<>]+)@",
    # Credentials in a URL query string or form body: ?api_key=...&X-Amz-Security-Token=...
    rf"(?i)(?:^|[?&])(?:[A-Za-z0-9_.-]*[_.-])?(?:{_SECRET_FIELD}|signature|sig)"
    r"=(?P<secret>[^&#\s\"']+)",
    # Shell and .env assignments: AWS_SECRET_ACCESS_KEY=..., export DB_PASSWORD="...".
    r"\b(?:[A-Z0-9]+_)*(?:PASSWORD|PASSWD|PASSPHRASE|PWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY"
    r"|SECRET_KEY|PRIVATE_KEY|CREDENTIALS)[ \t]*=[ \t]*"
    # A bare value must end the word, so code (`TOKEN = os.getenv("T")`) is left alone.
    r"(?P<secret>\"[^\"\n]+\"|'[^'\n]+'|[^\s\"'&;()\[\]{}$]+)(?:[\s;&,)\"']|$)",
    # Secret fields of JSON or of a Python repr in text that is not a JSON document
    # (a log line, an HTTP dump, a document too long or too broken to parse).
    rf"(?i)\"[A-Za-z0-9_.-]*{_SECRET_FIELD}\"\s*:\s*\"(?P<secret>(?:[^\"\\]|\\.)+)\"",
    rf"(?i)'[A-Za-z0-9_.-]*{_SECRET_FIELD}'\s*:\s*'(?P<secret>(?:[^'\\]|\\.)+)'",
)
