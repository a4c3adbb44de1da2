from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from replaydeck.config import Settings
from replaydeck.events import validate_event
from replaydeck.ingest.redact import (
    REDACTED,
    RedactionRules,
    RulesError,
    build_rules,
    load_rules,
    redact,
    redact_event,
    redact_events,
)
from replaydeck.web.app import create_app

RULES = RedactionRules()
OPENAI_KEY = "sk-proj-abcDEF1234567890abcdEFGH"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def test_key_names_replace_the_whole_value_whatever_its_type() -> None:
    payload = {
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Content-Type": "application/json"},
        "X-Api-Key": "abc",
        "password": 1234,
        "cookie": {"a": "b"},
        "nested": [{"refresh_token": ["x", "y"]}],
    }
    redacted, count = redact(payload, RULES)
    assert redacted == {
        "headers": {"Authorization": REDACTED, "Content-Type": "application/json"},
        "X-Api-Key": REDACTED,
        "password": REDACTED,
        "cookie": REDACTED,
        "nested": [{"refresh_token": REDACTED}],
    }
    assert count == 5


def test_similar_names_are_not_secrets() -> None:
    usage = {"input_tokens": 10, "max_tokens": 200, "token_count": 3, "secretary": "Ann"}
    assert redact(usage, RULES) == (usage, 0)


def test_empty_values_are_kept_and_not_counted() -> None:
    payload = {"password": None, "token": "", "secret": REDACTED}
    assert redact(payload, RULES) == (payload, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"my key is {OPENAI_KEY}.", f"my key is {REDACTED}."),
        ("Authorization: Bearer eyJhbGciOi.J9abc-def", f"Authorization: Bearer {REDACTED}"),
        (f"aws {AWS_KEY} here", f"aws {REDACTED} here"),
        ("ghp_" + "a" * 36, REDACTED),
        ("key=rdk_" + "Z9_-" * 11, f"key={REDACTED}"),
        ("GET /x?q=1&api_key=zzz123&page=2", f"GET /x?q=1&api_key={REDACTED}&page=2"),
    ],
)
def test_patterns_replace_matches_inside_strings(text: str, expected: str) -> None:
    assert redact(text, RULES) == (expected, 1)


def test_patterns_are_found_at_any_depth_and_each_match_counts() -> None:
    payload = {"args": {"q": [f"{OPENAI_KEY} and {AWS_KEY}", "plain"]}, "n": 3, "ok": True}
    redacted, count = redact(payload, RULES)
    assert redacted == {"args": {"q": [f"{REDACTED} and {REDACTED}", "plain"]}, "n": 3, "ok": True}
    assert count == 2


def test_header_pairs_are_redacted_like_mappings() -> None:
    headers = [["authorization", "Basic dXNlcjpwYXNz"], ["accept", "text/html"]]
    assert redact(headers, RULES) == ([["authorization", REDACTED], ["accept", "text/html"]], 1)


def test_redaction_is_idempotent_and_leaves_the_input_alone() -> None:
    payload = {"token": "t0k3n", "text": f"use {OPENAI_KEY}"}
    original = json.loads(json.dumps(payload))
    once, first = redact(payload, RULES)
    twice, second = redact(once, RULES)
    assert payload == original
    assert (twice, second) == (once, 0)
    assert first == 2


def test_plain_text_is_untouched() -> None:
    text = "The sky is blue. Ask-me about tokens and secrets; skip-the-line."
    assert redact(text, RULES) == (text, 0)


def test_settings_add_keys_and_patterns_to_the_defaults() -> None:
    rules = build_rules(["X-Internal-Auth"], [r"sess_[0-9a-f]{8}"])
    redacted, count = redact({"x_internal_auth": "v", "t": "id sess_deadbeef", "token": "t"}, rules)
    assert redacted == {"x_internal_auth": REDACTED, "t": f"id {REDACTED}", "token": REDACTED}
    assert count == 3


def test_a_rules_file_can_replace_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        'keys = ["ssn"]\npatterns = ["\\\\d{3}-\\\\d{2}-\\\\d{4}"]\nreplace_defaults = true\n'
    )
    rules = load_rules(rules_file=path)
    payload: dict[str, Any] = {"ssn": "x", "token": "kept", "t": "call 123-45-6789"}
    assert redact(payload, rules) == (
        {"ssn": REDACTED, "token": "kept", "t": f"call {REDACTED}"},
        2,
    )


def test_a_json_rules_file_adds_to_settings(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"keys": ["pin"]}))
    rules = load_rules(["otp"], rules_file=path)
    assert {"pin", "otp", "password"} <= rules.keys


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("keys = [", "cannot be parsed"),
        ('keys = "token"', "keys must be a list of strings"),
        ('patterns = ["("]', "not a valid regex"),
        ('colour = "red"', "unknown fields"),
        ('replace_defaults = "yes"', "true or false"),
    ],
)
def test_bad_rules_files_say_what_to_fix(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(content)
    with pytest.raises(RulesError, match=message):
        load_rules(rules_file=path)


def test_a_missing_rules_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot be read"):
        load_rules(rules_file=tmp_path / "nope.toml")


def test_redact_event_rewrites_data_and_its_serialized_form() -> None:
    event = validate_event(
        {"type": "tool.call", "data": {"name": "http", "args": {"token": "t"}, "call_id": "c"}},
        max_bytes=10_000,
    )
    redacted, count = redact_event(event, RULES)
    assert count == 1
    assert redacted.data["args"] == {"token": REDACTED}
    assert json.loads(redacted.data_json) == redacted.data
    assert (redacted.type, redacted.id, redacted.ts_us) == (event.type, event.id, event.ts_us)


def test_redact_events_counts_per_event_and_keeps_clean_events_as_they_are() -> None:
    clean = validate_event({"type": "status", "data": {"label": "ok"}}, max_bytes=10_000)
    dirty = validate_event(
        {"type": "message.delta", "data": {"text": f"{OPENAI_KEY} {AWS_KEY}"}}, max_bytes=10_000
    )
    events, counts = redact_events([clean, dirty], RULES)
    assert events[0] is clean
    assert counts == [0, 2]


def database_bytes(settings: Settings) -> bytes:
    """The database file and its WAL/SHM side files, as stored on disk."""
    path = settings.sqlite_path
    assert path is not None
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


@pytest.mark.anyio
async def test_planted_secrets_never_reach_the_database_file(settings: Settings) -> None:
    unique = secrets.token_hex(8)
    planted = {
        "openai": f"sk-proj-{unique}abcdefghijkl",
        "aws": "AKIA" + unique.upper()[:16].ljust(16, "Q"),
        "bearer": f"tok{unique}bearer",
        "password": f"pw-{unique}",
        "cookie": f"sid={unique}cookie",
        "header": f"Basic {unique}header",
        "ndjson": f"sk-{unique}fromndjsonbody",
    }
    canary = f"canary-{unique}"  # plain text that must be stored, to prove the search works
    batch = [
        {"type": "status", "data": {"label": canary}},
        {
            "type": "tool.call",
            "data": {
                "name": "http.get",
                "call_id": "c1",
                "args": {
                    "url": "https://api.example.com",
                    "headers": {"Authorization": f"Bearer {planted['bearer']}"},
                    "cookie": planted["cookie"],
                    "raw_headers": [["authorization", planted["header"]]],
                },
            },
        },
        {
            "type": "tool.result",
            "data": {
                "name": "http.get",
                "call_id": "c1",
                "result": {"password": planted["password"]},
            },
        },
        {"type": "message.delta", "data": {"text": f"use {planted['openai']} or {planted['aws']}"}},
    ]
    ndjson = json.dumps({"type": "message.delta", "data": {"text": planted["ndjson"]}}) + "\n"
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/v1/sessions/s1/events", json=batch)).status_code == 200
            response = await client.post(
                "/v1/sessions/s1/events",
                content=ndjson,
                headers={"Content-Type": "application/x-ndjson"},
            )
            assert response.status_code == 200, response.text
            stored = (await client.get("/v1/sessions/s1/events")).text
            trace = await client.get("/v1/sessions/s1/trace")
            assert trace.status_code == 200, trace.text
        # While the server runs, recent pages live in the WAL file.
        live = database_bytes(settings)
    at_rest = database_bytes(settings)

    assert stored.count(REDACTED) == len(planted)
    # Spans are made from the stored (redacted) events.
    assert "http.get" in trace.text
    for name, secret in planted.items():
        assert secret not in trace.text, f"{name} secret found in the session's spans"
    for raw in (live, at_rest):
        assert canary.encode() in raw
        for name, secret in planted.items():
            assert secret.encode() not in raw, f"{name} secret found in the database files"


# Pieces that make the default patterns (and a few user-style ones) almost match,
# match, or meet the characters where RE2 and Python's `re` differ.
_PIECES = st.sampled_from(
    ["sk-", "Bearer", "bearer", " ", "\t", "\v", "\x1c", "\u00a0", "\u2003", "AKIA", "rdk_",
     "ghp_", "?token=", "&api-key=", "x", "Z9", "é", "\n", "abc", "_", "-", "key_", "sk_live_",
     "xoxb-", "AIza", "github_pat_", "eyJ", ".", "://", ":", "@", "PASSWORD=", '"', "'",
     '"api_key": "', "\\", "authorization: basic ", ";", "$", "("]
)  # fmt: skip
_TEXTS = st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=30).map("".join)
_USER_PATTERNS = [r"secret\s+\w+$", r"\bé\w+", r"(?i)pass(?:word)?\s*[:=]\s*\S{4,}"]


@hypothesis_settings(max_examples=400, deadline=None)
@given(text=_TEXTS.map(lambda t: t.replace("x", "x" * 20)))
@example("Bearer\vabcdefghijk")  # `re`'s \s has \v, RE2's does not
@example("Bearer\u2003abcdefghijk")  # nor Unicode spaces
@example("my secret abc\n")  # `re`'s $ matches before a final newline
@example(" éabc")  # `re`'s \b and \w know é
def test_the_fast_prefilter_answers_exactly_as_python_re(text: str) -> None:
    rules = build_rules(extra_patterns=_USER_PATTERNS)
    assert rules.any_pattern is not None
    assert not isinstance(rules.any_pattern, re.Pattern)  # the RE2 path is the one tested
    found = any(p.search(text) for p in rules.patterns)
    assert (rules.any_pattern.search(text) is not None) == found


def test_patterns_re2_cannot_run_still_redact() -> None:
    rules = build_rules(extra_patterns=[r"(?<=key:)\w+"])  # a lookbehind: `re` only
    assert redact("key:abcdef", rules) == ("key:[REDACTED]", 1)
