"""Which object keys name a secret, judged by the words of the key.

A key is split into lower-case words at ``-``, ``_``, ``.``, spaces and camelCase
humps (``OpenAIApiKey`` is open ai api key). It names a secret when its last word
is a secret noun (``password``, ``token``, ``credentials``, ``cookie`` …), or a
key word after a qualifier that makes it one (``api key``, ``access key``,
``private key`` …), or, glued together, ends like one (``XAPIKEY``). A trailing
word that only says how the secret is held (``value``, ``hash``, ``string``) is
looked past, so ``SecretString`` and ``password_hash`` are secrets.

The last word decides, so counts and names of secrets are kept: ``max_tokens``,
``prompt_tokens`` (``tokens`` is a count, not a credential), ``token_count``,
``credential_count``, ``secret_name``, ``token_type``. ``session_id`` is kept too,
being an identifier nearly everywhere (replaydeck's own included), while the
glued ``sessionid`` is Django's session cookie and is redacted.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

SECRET_NOUNS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "token",
        "credential",
        "credentials",
        "creds",
        "cookie",
        "cookies",
        "authorization",
        "auth",
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
        "sessionid",
        "jsessionid",
        "phpsessid",
    }
)
# "<qualifier> key" is a credential; a sort, cache, primary or public key is not.
KEY_QUALIFIERS = frozenset(
    {
        "access",
        "account",
        "admin",
        "api",
        "app",
        "auth",
        "client",
        "decryption",
        "encryption",
        "hmac",
        "license",
        "master",
        "private",
        "secret",
        "service",
        "session",
        "shared",
        "signing",
        "ssh",
        "subscription",
        "webhook",
    }
)
# Words that say how a secret is held, not what it is: `password_hash`, `SecretString`.
_HOLDERS = frozenset(
    {"value", "string", "str", "hash", "text", "raw", "json", "data", "b64", "base64", "header"}
)
# "<qualifier> tokens" holds credentials; `input_tokens` and its kind are counts.
_TOKEN_QUALIFIERS = frozenset(
    {"access", "api", "auth", "bearer", "bot", "id", "refresh", "session"}
)
# A key written as one word: `XAPIKEY`, `OPENAIAPIKEY`, `dbpassword`.
_GLUED_SUFFIXES = (
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "accesstoken",
    "authtoken",
    "refreshtoken",
    "password",
    "passwd",
    "passphrase",
    "secret",
)


_SEPARATORS = re.compile(r"[\s_.-]+")


def key_words(name: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(name)]


def squash(name: str) -> str:
    """The key without case or separators: how configured names are compared."""
    return _SEPARATORS.sub("", name.lower())


def names_a_secret(name: str) -> bool:
    words = key_words(name)
    while len(words) > 1 and words[-1].isdigit():  # password2, api_key_1
        words.pop()
    if len(words) > 1 and words[-1] in _HOLDERS:
        words.pop()
    if not words:
        return False
    head = words[-1]
    qualifier = words[-2] if len(words) > 1 else ""
    if head in SECRET_NOUNS:
        return True
    if head in ("key", "keys") and qualifier in KEY_QUALIFIERS:
        return True
    if head == "tokens" and qualifier in _TOKEN_QUALIFIERS:
        return True
    return "".join(words).endswith(_GLUED_SUFFIXES)


# Matched by name (squashed) on top of the word rule; a rules file that sets
# replace_defaults drops both.
DEFAULT_KEYS: frozenset[str] = frozenset(
    squash(name)
    for name in (
        "authorization",
        "proxy_authorization",
        "api_key",
        "x_api_key",
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "session_token",
        "private_key",
        "credentials",
        "cookie",
        "set_cookie",
    )
)
