"""What redaction recognises: key names by their words, secret shapes, JSON inside
strings, secrets in keys, and secrets split between the deltas of one message."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from replaydeck.events import NewEvent, validate_event
from replaydeck.ingest.redact import (
    MAX_EMBEDDED_JSON,
    REDACTED,
    RedactionRules,
    build_rules,
    redact,
    redact_events,
)
from replaydeck.ingest.secret_patterns import DEFAULT_PATTERNS
from replaydeck.ingest.split_secrets import redact_split_secrets

RULES = RedactionRules()
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkEifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

SECRET_KEYS = [
    "openai_api_key",
    "aws_secret_access_key",
    "anthropic-api-key",
    "x-goog-api-key",
    "x-amz-security-token",
    "passphrase",
    "pwd",
    "PWD",
    "credentials",
    "credential",
    "sessionid",
    "OpenAIApiKey",
    "XAPIKEY",
    "X-Api-Key",
    "Authorization",
    "proxy-authorization",
    "set-cookie",
    "client_secret",
    "refresh_token",
    "private_key",
    "ssh_key",
    "db_password",
    "password2",
    "api_keys",
    "access_tokens",
    "SecretString",
    "password_hash",
    "basic_auth",
]
PLAIN_KEYS = [
    "token_count",
    "max_tokens",
    "keyboard",
    "author",
    "passage",
    "prompt_tokens",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "credential_count",
    "secretary",
    "secret_name",
    "token_type",
    "tokenizer",
    "session_id",
    "sessionId",
    "message_id",
    "key",
    "sort_key",
    "public_key",
    "api_key_id",
    "authentication",
    "password_hint",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_keys_that_name_a_secret_are_redacted(key: str) -> None:
    assert redact({key: "v4lue", "n": 1}, RULES) == ({key: REDACTED, "n": 1}, 1)


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_keys_that_count_or_name_secrets_are_kept(key: str) -> None:
    payload = {key: "v4lue", "n": 1}
    assert redact(payload, RULES) == (payload, 0)


def test_usage_fields_survive_whole() -> None:
    usage = {
        "usage": {
            "input_tokens": 10,
            "output_tokens": 20,
            "total_tokens": 30,
            "prompt_tokens": 10,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 8},
        }
    }
    assert redact(usage, RULES) == (usage, 0)


def test_flags_about_secrets_are_kept() -> None:
    payload = {"is_secret": True, "requires_password": False}
    assert redact(payload, RULES) == (payload, 0)


def test_configured_names_match_without_case_or_separators() -> None:
    rules = build_rules(["x-internal-auth"])
    payload = {"X_Internal_Auth": "a", "xInternalAuth": "b", "x.internal.auth": "c"}
    redacted, count = redact(payload, rules)
    assert set(redacted.values()) == {REDACTED}
    assert count == 3


def test_replacing_the_defaults_turns_the_word_rule_off() -> None:
    rules = build_rules(["ssn"], replace_defaults=True)
    assert redact({"openai_api_key": "k", "ssn": "1"}, rules) == (
        {"openai_api_key": "k", "ssn": REDACTED},
        1,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key_sk-abcdefghijklmnopqrstuv", REDACTED),
        ("cfg=my_key_sk-abcdefghijklmnopqrstuv;", f"cfg={REDACTED};"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", f"stripe {REDACTED}"),
        ("rk_test_4eC39HqLyjWDarjtT1zdp7dc", REDACTED),
        ("whsec_abcdefghijklmnopqrstuvwx", REDACTED),
        ("slack xoxb-1234567890-abcdefABCDEF.", f"slack {REDACTED}."),
        ("AIzaSyA1234567890abcdefghijklmnopqrstu", REDACTED),
        ("github_pat_11ABCDEFG0_abcdefghijklmnopqrstuvwxyz0123", REDACTED),
        (f"jwt={JWT}", f"jwt={REDACTED}"),
        ("authorization: bearer abc123def456", f"authorization: bearer {REDACTED}"),
        ("BEARER abc123def456", f"BEARER {REDACTED}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {REDACTED}"),
        (
            "postgres://app:s3cr3t@db.internal:5432/app",
            f"postgres://app:{REDACTED}@db.internal:5432/app",
        ),
        ("redis://:p@ss@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("GET /cb?X-Amz-Security-Token=FwoGZX&x=1", f"GET /cb?X-Amz-Security-Token={REDACTED}&x=1"),
        ("password=hunter2&user=al", f"password={REDACTED}&user=al"),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nHOME=/root",
            f"AWS_SECRET_ACCESS_KEY={REDACTED}\nHOME=/root",
        ),
        ('export DB_PASSWORD="two words"', f"export DB_PASSWORD={REDACTED}"),
        # JSON that is not a whole document (an HTTP dump, cut short) and a Python repr.
        (
            'HTTP/1.1 200 OK\r\n\r\n{"access_token": "ab\\"c", "expires_in": 3600',
            f'HTTP/1.1 200 OK\r\n\r\n{{"access_token": "{REDACTED}", "expires_in": 3600',
        ),
        ("{'password': 'hunter2', 'user': 'al'}", f"{{'password': '{REDACTED}', 'user': 'al'}}"),
    ],
)
def test_secret_shapes_are_replaced_in_text(text: str, expected: str) -> None:
    assert redact(text, RULES) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        "the bearer of bad news",
        "Ask-me about tokens and secrets; skip-the-line.",
        "task-management-system-for-everyone",
        'TOKEN = os.getenv("TOKEN")',
        "client(api_key=api_key, max_tokens=100)",
        "max_tokens=200&temperature=0.2",
        "https://example.com:8080/path?q=1 and https://example.com/a@b",
        "mail al@example.com or mailto:al@example.com",
        '{"token_count": 3, "max_tokens": 5, "secret_name": "prod/db"}',
        "AKIA is a prefix; eyJ starts base64 JSON",
    ],
)
def test_ordinary_text_and_code_are_kept(text: str) -> None:
    assert redact(text, RULES) == (text, 0)


def test_json_inside_a_string_is_redacted_and_stays_the_same_json() -> None:
    inner = json.dumps({"token": "t0k"})
    document = {"api_key": "abc123", "rows": [1, 2.5], "big": 2**70, "nested": inner}
    redacted, count = redact({"result": json.dumps(document)}, RULES)
    expected = {**document, "api_key": REDACTED, "nested": json.dumps({"token": REDACTED})}
    # Written as Python's json.dumps wrote it, large integers exact.
    assert redacted == {"result": json.dumps(expected)}
    assert count == 2


def test_json_inside_a_string_keeps_its_layout() -> None:
    pretty = json.dumps({"headers": {"x-goog-api-key": "AIza-abc"}, "ok": True}, indent=2)
    compact = json.dumps([{"credentials": {"user": "u", "pass": "p"}}], separators=(",", ":"))
    assert redact(pretty, RULES)[0] == json.dumps(
        {"headers": {"x-goog-api-key": REDACTED}, "ok": True}, indent=2
    )
    assert redact(compact, RULES) == ('[{"credentials":"[REDACTED]"}]', 1)


def test_a_clean_json_string_is_left_exactly_as_it_was() -> None:
    text = '{ "q": "sse",  "max_tokens": 5 }'
    assert redact(text, RULES)[0] is text


def test_a_key_repeated_to_hide_a_secret_is_still_caught_in_the_text() -> None:
    # A parser keeps the last of two equal keys; the first is still in the string.
    text = '{"api_key": "first-secret", "api_key": ""}'
    assert redact(text, RULES) == (f'{{"api_key": "{REDACTED}", "api_key": ""}}', 1)


def test_documents_too_deep_or_too_long_to_parse_are_scanned_as_text() -> None:
    secret = "sk-abcdefghijklmnopqrstu"
    deep = "[" * 400 + f'"{secret}"' + "]" * 400
    assert redact({"text": deep}, RULES) == ({"text": deep.replace(secret, REDACTED)}, 1)
    long = '{"password": "hunter2", "pad": "' + "x" * MAX_EMBEDDED_JSON + '"}'
    redacted, count = redact(long, RULES)
    assert redacted.startswith(f'{{"password": "{REDACTED}"')
    assert count == 1


def test_keys_that_are_secrets_are_rewritten_without_losing_values() -> None:
    payload = {
        "sk-abcdefghijklmnopqrstuv": 1,
        "AKIAIOSFODNN7EXAMPLE": 2,
        "[REDACTED]": 3,
        "plain": 4,
    }
    redacted, count = redact(payload, RULES)
    assert sorted(redacted.values()) == [1, 2, 3, 4]
    assert not any("sk-" in key or "AKIA" in key for key in redacted)
    assert count == 2


# Shapes whose every character is the secret: redacted whole after any separator.
_ALNUM = string.ascii_letters + string.digits
_TOKENS = [
    lambda r: "sk-proj-" + r,
    lambda r: "sk_live_" + r,
    lambda r: "xoxb-" + r,
    lambda r: "AIza" + r,
    lambda r: "github_pat_" + r,
    lambda r: "ghp_" + r,
    lambda r: "rdk_" + r,
    lambda r: f"eyJ{r[:12]}.eyJ{r[12:]}.{r}",
]
# Shapes with a lead-in that stays (`Bearer `, `user:` …): the secret after it goes.
_FIELDS = [
    lambda r: "Bearer " + r,
    lambda r: "bearer " + r,
    lambda r: f"postgres://app:{r}@db:5432/x",
    lambda r: f"https://x.test/cb?access_token={r}&x=1",
    lambda r: f"OPENAI_API_KEY={r}",
    lambda r: f'{{"api_key": "{r}", "x": 1}}',
    lambda r: f"{{'secret': '{r}'}}",
]
_BEFORE = st.sampled_from(["", " ", "\n", "(", '"', "'", "=", ":", ",", "/", "key_", "my_key_"])
_AFTER = st.sampled_from(["", " ", ".", ",", '"', ")", "\n", ";"])


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    shape=st.sampled_from(_TOKENS + _FIELDS),
    body=st.text(alphabet=_ALNUM, min_size=40, max_size=60),
    before=_BEFORE,
    after=_AFTER,
    text_before=st.text(alphabet=_ALNUM + " ", max_size=10),
)
def test_a_secret_is_never_half_redacted(
    shape: Any, body: str, before: str, after: str, text_before: str
) -> None:
    if shape in _FIELDS and before.endswith("_"):
        before = " "  # a lead-in word glued to a name is another word
    text = f"{text_before} {before}{shape(body)}{after}"
    redacted, count = redact(text, RULES)
    pieces = {body[i : i + 6] for i in range(len(body) - 5)}
    left = sorted(piece for piece in pieces if piece in redacted)
    assert count >= 1, text
    assert not left, (text, redacted)


_TEXT_PIECES = st.sampled_from(
    ["sk-", "key_", "?token=", "&", "=", "PASSWORD", "Bearer ", "://", ":", "@", '"token": "',
     "eyJ", ".", "AKIA", "xoxb-", " ", "\n", "x" * 20, "Z9", "é", "$", "secret"]
)  # fmt: skip
_ID_LISTS = st.lists(st.lists(_TEXT_PIECES, max_size=8).map("".join), max_size=6)


@hypothesis_settings(max_examples=300, deadline=None)
@given(texts=_ID_LISTS)
def test_searching_ids_together_finds_what_searching_each_finds(texts: list[str]) -> None:
    for rules in (RULES, build_rules(extra_patterns=[r"^secret$", r"\bZ9x+"])):
        each = next((i for i, text in enumerate(texts) if rules.could_match(text)), None)
        assert rules.first_match(texts) == each


def test_the_default_patterns_may_be_searched_joined() -> None:
    # A pattern that says where a text starts or ends must accept "&" there too:
    # first_match relies on it, and the test above holds the defaults to it.
    assert all(source in DEFAULT_PATTERNS for source in (p.pattern for p in RULES.patterns))
    assert RULES._joinable
    assert not build_rules(extra_patterns=[r"^secret$"])._joinable


def deltas(*texts: str, message_id: str | None = "m1") -> list[NewEvent]:
    data: dict[str, Any] = {} if message_id is None else {"message_id": message_id}
    return [
        validate_event({"type": "message.delta", "data": {**data, "text": text}}, max_bytes=10_000)
        for text in texts
    ]


def split(events: list[NewEvent]) -> tuple[list[str], list[int]]:
    """The texts stored for these deltas, and each one's redaction count."""
    redacted, _ = redact_events(redact_split_secrets(events, RULES), RULES)
    assert all(json.loads(event.data_json) == event.data for event in redacted)
    return [event.data.get("text", "") for event in redacted], [e.redacted for e in redacted]


def test_a_secret_split_between_two_deltas_leaves_both() -> None:
    texts, counts = split(deltas("my key is sk-proj-abcdef", "ghijklmnopqrstu, keep it"))
    assert texts == [f"my key is {REDACTED}", ", keep it"]
    assert counts == [1, 0]


def test_a_split_secret_whose_first_part_matches_alone_leaves_whole() -> None:
    # "sk-" and 16 characters match on their own; the rest must not stay behind.
    texts, counts = split(deltas("key sk-proj-abcdefghijklm", "nopqrstuvwxyz0123 ok"))
    assert texts == [f"key {REDACTED}", " ok"]
    assert counts == [1, 0]


def test_a_secret_streamed_a_few_characters_at_a_time_leaves_every_chunk() -> None:
    secret = "xoxb-1234567890-abcdefABCDEF"
    chunks = ["Token: "] + [secret[i : i + 3] for i in range(0, len(secret), 3)] + [" done"]
    texts, counts = split(deltas(*chunks))
    assert "".join(texts) == f"Token: {REDACTED} done"
    assert sum(counts) == 1
    assert not any(piece in "".join(texts) for piece in ("xox", "1234", "ABC"))


def test_a_lead_in_in_one_delta_and_the_secret_in_the_next() -> None:
    texts, counts = split(deltas("curl -H 'Authorization: Bearer ", "abc123def456ghi' x"))
    assert texts == ["curl -H 'Authorization: Bearer ", f"{REDACTED}' x"]
    assert counts == [0, 1]


def test_deltas_of_other_messages_are_not_joined() -> None:
    events = deltas("sk-proj-abcdef", message_id="a") + deltas("ghijklmnopqrstu", message_id="b")
    assert split(events) == (["sk-proj-abcdef", "ghijklmnopqrstu"], [0, 0])


def test_deltas_without_a_message_id_are_one_message_until_a_tool_call() -> None:
    first, second = deltas("key sk-proj-abcdef", "ghijklmnopqrstu", message_id=None)
    status = validate_event({"type": "status", "data": {"label": "typing"}}, max_bytes=100)
    call = validate_event(
        {"type": "tool.call", "data": {"name": "t", "args": {}, "call_id": "c"}}, max_bytes=100
    )
    texts, _ = split([first, status, second])
    assert [texts[0], texts[2]] == [f"key {REDACTED}", ""]
    texts, _ = split([first, call, second])
    assert [texts[0], texts[2]] == ["key sk-proj-abcdef", "ghijklmnopqrstu"]


def test_a_secret_inside_one_delta_is_counted_once() -> None:
    texts, counts = split(deltas("a sk-proj-abcdefghijklmnopqr", " and Bearer abcdefgh1234"))
    assert texts == [f"a {REDACTED}", f" and Bearer {REDACTED}"]
    assert counts == [1, 1]


def test_clean_deltas_are_kept_as_they_are() -> None:
    events = deltas("Hello", " there", message_id=None)
    redacted = redact_split_secrets(events, RULES)
    assert all(a is b for a, b in zip(redacted, events, strict=True))
