"""Redaction at ingest: secrets become ``[REDACTED]`` before storage and spans.

Pure: ``redact(value, rules)`` returns a redacted copy and how many values it
replaced. Three kinds of rule:

- key names: the whole value under a key that names a secret is replaced,
  whatever its type. Keys are judged by their words (replaydeck.ingest.secret_names:
  ``openai_api_key``, ``X-Amz-Security-Token`` and ``OpenAIApiKey`` are secrets,
  ``max_tokens`` is not); configured names match without case or separators.
- patterns: every match inside any string or object key is replaced. A pattern
  with a group named ``secret`` replaces only that group (``Bearer [REDACTED]``).
- JSON inside strings: a string that holds a JSON object or array (tool results
  often do) is parsed, redacted by these same rules, and written back.

A value is replaced whole, never cut: patterns take every character of a token
(``key_sk-…`` is one value), and a JSON string is rewritten from its parsed form.

Rules come from the defaults (secret_names, secret_patterns), settings, or a
TOML/JSON rules file::

    keys = ["x-internal-auth"]          # added to the defaults
    patterns = ['sess_[0-9a-f]{32}']
    replace_defaults = false            # true: use only this file's rules
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import orjson
import re2  # type: ignore[import-untyped]

from replaydeck.events import NewEvent
from replaydeck.ingest.secret_names import DEFAULT_KEYS, names_a_secret, squash
from replaydeck.ingest.secret_patterns import DEFAULT_PATTERNS

REDACTED = "[REDACTED]"
# Longer strings are not parsed as JSON documents; the quoted-field patterns
# below still find `"password": "…"` in them.
MAX_EMBEDDED_JSON = 1024 * 1024
# orjson writes at most 255 levels, so nothing deeper is stored; an embedded
# document deeper than that is scanned as text instead.
_MAX_DEPTH = 255

# How an object key is treated; bits, cached per key name.
_PLAIN = 0
_SECRET_NAME = 1  # the value under it is replaced
_SECRET_IN_NAME = 2  # the key itself matches a pattern and is rewritten
# Producers choose key names, so the cache is bounded.
_VERDICT_CACHE_SIZE = 4096


class RulesError(ValueError):
    """A rules file or pattern that cannot be used; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class RedactionRules:
    # Configured key names, squashed (secret_names.squash): matched exactly.
    keys: frozenset[str] = DEFAULT_KEYS
    patterns: tuple[re.Pattern[str], ...] = field(
        default_factory=lambda: compile_patterns(DEFAULT_PATTERNS)
    )
    # The word rule of secret_names, on unless a rules file replaces the defaults.
    key_words: bool = True
    # One search for "could any pattern match?": almost every string is clean,
    # so this search is most of redaction's cost (see _combined).
    any_pattern: Prefilter | None = field(init=False, default=None)
    _verdicts: dict[str, int] = field(init=False, repr=False, compare=False)
    _joinable: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "any_pattern", _combined(self.patterns))
        object.__setattr__(self, "_verdicts", {})
        object.__setattr__(self, "_joinable", all(map(_joinable, self.patterns)))

    def first_match(self, texts: Sequence[str]) -> int | None:
        """The index of the first text that a pattern matches, None if none does."""
        # Each search has a fixed cost (a few µs in RE2's wrapper) that short texts
        # such as event ids do not amortize, so they are searched together first:
        # joined by "&", which the patterns accept wherever they accept the start
        # or end of a text, a match in any one text is still found (tests hold the
        # defaults to it); only a hit is searched text by text.
        if len(texts) > 1 and self._joinable and not self.could_match("&".join(texts)):
            return None
        return next((i for i, text in enumerate(texts) if self.could_match(text)), None)

    def could_match(self, text: str) -> bool:
        """Whether any pattern matches somewhere in text (exact, not a guess)."""
        if self.any_pattern is not None:
            return self.any_pattern.search(text) is not None
        return any(pattern.search(text) for pattern in self.patterns)

    def judge_key(self, key: str) -> int:
        # An event's keys come from a small vocabulary (text, call_id, args …),
        # so each is judged once and the verdict reused.
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = _PLAIN
            if squash(key) in self.keys or (self.key_words and names_a_secret(key)):
                verdict |= _SECRET_NAME
            if self.could_match(key):
                verdict |= _SECRET_IN_NAME
            if len(self._verdicts) >= _VERDICT_CACHE_SIZE:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    def names_secret(self, key: str) -> bool:
        return bool(self.judge_key(key) & _SECRET_NAME)


# What a pattern may say about where a text starts or ends; one that says none of
# it matches in a text joined to others exactly as in the text alone. Read from
# the source, so a `[^…]` class counts too, and a few safe patterns are searched
# one by one. The defaults are vouched for by a test instead.
_EDGE_SYNTAX = re.compile(r"\^|\$|\\[AZbB]|\(\?<?[=!]")


def _joinable(pattern: re.Pattern[str]) -> bool:
    return pattern.pattern in DEFAULT_PATTERNS or _EDGE_SYNTAX.search(pattern.pattern) is None


class Prefilter(Protocol):
    def search(self, text: str) -> object | None: ...


def _re2_reads_like_re(text: str) -> bool:
    # ASCII text on which RE2 and `re` agree: `re`'s \s also matches \v and
    # \x1c-\x1f, and its `$` also matches before a final newline. Substring tests,
    # not a regex: they run at memory speed, a regex at ~10 ns a character.
    return text.isascii() and not (
        text.endswith("\n")
        or "\v" in text
        or "\x1c" in text
        or "\x1d" in text
        or "\x1e" in text
        or "\x1f" in text
    )


class _Re2Prefilter:
    """RE2 where it answers exactly as `re` would, `re` elsewhere.

    Python's backtracking `re` tries every alternative at every position: 5-14 µs
    for one short clean string with the default patterns, a third of a batch's
    ingest time (py-spy). RE2's automaton scans it in one pass in about 2 µs, and
    in linear time whatever a producer sends. RE2's classes are ASCII-only, so
    non-ASCII text (where `re`'s word, space and boundary classes are wider) goes
    to `re`.
    """

    def __init__(self, fast: Any, exact: re.Pattern[str]) -> None:
        self._fast = fast
        self._exact = exact

    def search(self, text: str) -> object | None:
        if _re2_reads_like_re(text):
            found: object | None = self._fast.search(text)
            return found
        return self._exact.search(text)


def _combined(patterns: tuple[re.Pattern[str], ...]) -> Prefilter | None:
    """All patterns as one alternation, named groups made plain (names may repeat);
    None when they cannot be combined, and every pattern then runs on its own.
    With RE2 as well when it accepts them (not lookarounds or backreferences)."""
    if not patterns:
        return None
    sources = []
    for pattern in patterns:
        source = re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern)
        # A leading global flag such as (?i) must become a scoped one, (?i:…).
        if flags := re.match(r"\(\?([imsx]+)\)", source):
            source = f"(?{flags.group(1)}:{source[flags.end() :]})"
        sources.append(source)
    combined = "|".join(f"(?:{source})" for source in sources)
    try:
        exact = re.compile(combined)
    except re.error:
        return None
    options = re2.Options()
    options.log_errors = False  # a pattern RE2 refuses is expected, not an error
    try:
        return _Re2Prefilter(re2.compile(combined, options=options), exact)
    except re2.error:
        return exact


@functools.cache
def default_rules() -> RedactionRules:
    """The built-in rules, compiled once: for text outside any app's settings (logs)."""
    return RedactionRules()


def compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for source in patterns:
        try:
            compiled.append(re.compile(source))
        except re.error as e:
            raise RulesError(f"The redaction pattern {source!r} is not a valid regex: {e}.") from e
    return tuple(compiled)


def build_rules(
    extra_keys: Iterable[str] = (),
    extra_patterns: Iterable[str] = (),
    *,
    replace_defaults: bool = False,
) -> RedactionRules:
    base_keys: frozenset[str] = frozenset() if replace_defaults else DEFAULT_KEYS
    base_patterns: tuple[str, ...] = () if replace_defaults else DEFAULT_PATTERNS
    return RedactionRules(
        keys=base_keys | ({squash(k) for k in extra_keys} - {""}),
        patterns=compile_patterns((*base_patterns, *extra_patterns)),
        key_words=not replace_defaults,
    )


def parse_rules_file(text: str, *, suffix: str) -> dict[str, Any]:
    """Parse a rules file's text (TOML, or JSON when suffix is .json) into its fields."""
    try:
        raw: Any = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except ValueError as e:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise RulesError(f"The redaction rules file cannot be parsed: {e}.") from e
    if not isinstance(raw, dict):
        raise RulesError("The redaction rules file must hold an object with keys/patterns.")
    unknown = set(raw) - {"keys", "patterns", "replace_defaults"}
    if unknown:
        raise RulesError(
            f"The redaction rules file has unknown fields {sorted(unknown)}; "
            "use only keys, patterns and replace_defaults."
        )
    for name in ("keys", "patterns"):
        value = raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RulesError(f"In the redaction rules file, {name} must be a list of strings.")
    if not isinstance(raw.get("replace_defaults", False), bool):
        raise RulesError("In the redaction rules file, replace_defaults must be true or false.")
    return raw


def load_rules(
    extra_keys: Iterable[str] = (),
    extra_patterns: Iterable[str] = (),
    rules_file: Path | None = None,
) -> RedactionRules:
    """Defaults + settings + an optional rules file. Called once at start-up."""
    keys, patterns, replace_defaults = list(extra_keys), list(extra_patterns), False
    if rules_file is not None:
        try:
            text = rules_file.read_text(encoding="utf-8")
        except OSError as e:
            raise RulesError(
                f"The redaction rules file {str(rules_file)!r} cannot be read: {e.strerror}."
            ) from e
        parsed = parse_rules_file(text, suffix=rules_file.suffix.lower())
        keys += parsed.get("keys", [])
        patterns += parsed.get("patterns", [])
        replace_defaults = parsed.get("replace_defaults", False)
    return build_rules(keys, patterns, replace_defaults=replace_defaults)


def redact_text(text: str, rules: RedactionRules) -> tuple[str, int]:
    """The patterns' matches in text replaced, and how many there were."""
    if not rules.could_match(text):
        return text, 0
    count = 0
    for pattern in rules.patterns:
        has_group = "secret" in pattern.groupindex

        def replace(match: re.Match[str], has_group: bool = has_group) -> str:
            nonlocal count
            if not has_group or match.group("secret") is None:
                count += 1
                return REDACTED
            if match.group("secret") == REDACTED:
                return match.group(0)  # redacted before: `"token": "[REDACTED]"`
            count += 1
            start, end = match.span("secret")
            whole = match.group(0)
            offset = match.start()
            return whole[: start - offset] + REDACTED + whole[end - offset :]

        text = pattern.sub(replace, text)
    return text, count


def redact(value: Any, rules: RedactionRules) -> tuple[Any, int]:
    """Return a redacted copy of a JSON-like value and the number of values replaced.

    A value nested deeper than any store can hold (255 levels) raises ValueError.
    """
    return _redact(value, rules, 0)


class _TooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"The value is nested deeper than {_MAX_DEPTH} levels.")


def _redact(value: Any, rules: RedactionRules, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, str):
        return _redact_string(value, rules, depth)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        total = 0
        for key, item in value.items():
            verdict = rules.judge_key(key) if isinstance(key, str) else _PLAIN
            if verdict & _SECRET_NAME and _has_content(item):
                redacted, count = REDACTED, 1
            else:
                redacted, count = _redact(item, rules, depth + 1)
            if verdict & _SECRET_IN_NAME:
                key, in_name = redact_text(key, rules)
                key = _unused(key, out, value)
                count += in_name
            out[key] = redacted
            total += count
        return out, total
    if isinstance(value, list | tuple):
        if _is_secret_pair(value, rules):
            return [value[0], REDACTED], 1
        items = []
        total = 0
        for item in value:
            redacted, count = _redact(item, rules, depth + 1)
            items.append(redacted)
            total += count
        return items, total
    return value, 0


def _redact_string(text: str, rules: RedactionRules, depth: int) -> tuple[str, int]:
    if _looks_like_json(text):
        try:
            document = orjson.loads(text)
            _, count = _redact(document, rules, depth + 1)
        except (orjson.JSONDecodeError, _TooDeep):
            count = 0  # not a document to rewrite: scanned as text below
        if count:
            return _rewrite_json(text, rules, depth)
    # Also when a document had nothing to replace: a duplicate key that orjson
    # dropped may still hold a secret in the text.
    return redact_text(text, rules)


def _looks_like_json(text: str) -> bool:
    if not text or len(text) > MAX_EMBEDDED_JSON:
        return False
    first, last = text[0], text[-1]
    if first.isspace() or last.isspace():
        stripped = text.strip()
        if not stripped:
            return False
        first, last = stripped[0], stripped[-1]
    return (first == "{" and last == "}") or (first == "[" and last == "]")


def _rewrite_json(text: str, rules: RedactionRules, depth: int) -> tuple[str, int]:
    # Parsed again by `json`, which keeps integers beyond 64 bits exact (orjson,
    # which found the secret fast, would turn them into floats), and written back
    # whole, spaced as it was: a rewritten document is still valid JSON.
    try:
        document = json.loads(text)
    except ValueError:
        document = orjson.loads(text)
    clean, count = _redact(document, rules, depth + 1)
    if "\n" in text:
        return json.dumps(clean, ensure_ascii=False, indent=2), count
    if ": " in text or ", " in text:  # as Python's json.dumps writes it
        return json.dumps(clean, ensure_ascii=False), count
    return json.dumps(clean, ensure_ascii=False, separators=(",", ":")), count


def _unused(key: str, out: Mapping[Any, Any], original: Mapping[Any, Any]) -> str:
    # Two keys redacted to the same text must not overwrite each other's values.
    candidate, n = key, 1
    while candidate in out or candidate in original:
        n += 1
        candidate = f"{key} {n}"
    return candidate


def redact_event(event: NewEvent, rules: RedactionRules) -> tuple[NewEvent, int]:
    """The event with its data redacted (and re-serialized), and the count."""
    data, count = redact(event.data, rules)
    if count == 0:
        return event, 0
    redacted = event.redacted + count  # a split secret may have been counted already
    return replace(event, data=data, data_json=orjson.dumps(data), redacted=redacted), count


def redact_events(
    events: Sequence[NewEvent], rules: RedactionRules
) -> tuple[list[NewEvent], list[int]]:
    """Redacted events and, per event, how many values were replaced."""
    pairs = [redact_event(event, rules) for event in events]
    return [event for event, _ in pairs], [count for _, count in pairs]


def _is_secret_pair(value: list[Any] | tuple[Any, ...], rules: RedactionRules) -> bool:
    # Header lists arrive as [name, value] pairs (ASGI scopes, httpx dumps):
    # ["Authorization", "Basic ..."] is as secret as {"Authorization": "Basic ..."}.
    return (
        len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], str)
        and rules.names_secret(value[0])
        and _has_content(value[1])
    )


def _has_content(value: Any) -> bool:
    # `"password": null` or `""` holds nothing to hide, nor does a flag such as
    # `"is_secret": true`; leave them so the event still says what the field
    # was, and do not inflate the count.
    return value is not None and value != "" and value != REDACTED and not isinstance(value, bool)
