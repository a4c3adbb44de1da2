"""Envelopes → a comparable form for golden tests (pure, no I/O).

The normal form keeps what an agent *means* and drops what differs between two
runs of the same agent:

- volatile envelope fields (`ts`, `offset_ms`, `id`, `seq`, `trace_id`,
  `span_id`) are dropped;
- consecutive `message.delta`s of one message become one `{"type": "message",
  "data": {"text": ...}}` entry, because an LLM's chunk boundaries are not
  deterministic (``strict=True`` keeps the chunks as they were);
- the store's own control events (`replay.*`, `stream.*`) are dropped, and so is
  the wire of a capture with `record_wire` (`http.request`, `http.response`,
  `http.chunk`);
- masks replace values that are volatile *inside* payloads: JSON paths
  (``data.result.created_at``, ``data.items[*].id``, ``*`` matches any key or
  index) and regexes become placeholders. By default: dates and UUIDs; the
  provider ids that differ on every call (``chatcmpl-…``, ``call_…``, ``resp_…``,
  ``msg_…``, ``run_…``, ``toolu_…``) and long hex ids (``uuid4().hex``), as
  numbered placeholders (``<call_1>``), so the same id in a tool call and its
  result stays the same placeholder; and integers that are epoch timestamps
  (seconds or milliseconds, 2001 to 2286), as ``<epoch>``;
- a mask path that matches nothing in the whole sequence is an error (a typo
  would otherwise pass silently);
- everything else, tool names, arguments and results included, is kept.

Masks run after coalescing, so a date split across two chunks is still masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from replaydeck.formats.base import WIRE_TYPES

VOLATILE_FIELDS = frozenset({"ts", "offset_ms", "id", "seq", "trace_id", "span_id"})
CONTROL_PREFIXES = ("replay.", "stream.")
DELTA_TYPE = "message.delta"
# Not a dotted name, so it can never collide with a producer's own event type.
MESSAGE_TYPE = "message"
PATH_PLACEHOLDER = "<masked>"

UUID_PATTERN = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
DATETIME_PATTERN = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b"
)
DATE_PATTERN = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")

# Order matters: a datetime is masked whole before its date part could match.
DEFAULT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (UUID_PATTERN, "<uuid>"),
    (DATETIME_PATTERN, "<datetime>"),
    (DATE_PATTERN, "<date>"),
)

# Ids that differ on every call: numbered by first appearance in the sequence.
NUMBERED_IDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(chatcmpl|call|resp|msg|run|toolu|fc|rs|item)[-_][A-Za-z0-9]{8,}\b"), r"\1"),
    (re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{40}\b|\b[0-9a-f]{64}\b"), "hex"),
)
EPOCH_PLACEHOLDER = "<epoch>"
# Epoch seconds and milliseconds from 2001-09-09 to 2286-11-20.
_EPOCH_RANGES = ((1_000_000_000, 10_000_000_000), (1_000_000_000_000, 10_000_000_000_000))

Event = dict[str, Any]
Transform = Callable[[list[Event]], list[Event]]


@dataclass(frozen=True)
class Normalizer:
    """How to normalize; the defaults suit most agent tests.

    ``mask_paths`` maps a path to its placeholder (a plain sequence of paths
    uses ``<masked>``); ``patterns`` are ``(regex, placeholder)`` pairs applied
    to every string value, after the default masks unless ``default_masks`` is
    False; ``transforms`` are callables run last, each taking and returning the
    list of normalized events.
    """

    strict: bool = False
    mask_paths: Mapping[str, str] = field(default_factory=dict)
    patterns: Sequence[tuple[re.Pattern[str] | str, str]] = DEFAULT_PATTERNS
    keep_control: bool = False
    default_masks: bool = True
    transforms: Sequence[Transform] = ()

    @classmethod
    def build(
        cls,
        *,
        strict: bool = False,
        mask_paths: Mapping[str, str] | Iterable[str] = (),
        patterns: Sequence[tuple[re.Pattern[str] | str, str]] | None = None,
        keep_control: bool = False,
        default_masks: bool = True,
        transforms: Iterable[Transform] = (),
    ) -> Normalizer:
        paths = (
            dict(mask_paths)
            if isinstance(mask_paths, Mapping)
            else dict.fromkeys(mask_paths, PATH_PLACEHOLDER)
        )
        for path in paths:
            _parse_path(path)  # a malformed path fails here, not mid-comparison
        defaults = DEFAULT_PATTERNS if default_masks else ()
        return cls(
            strict=strict,
            mask_paths=paths,
            # Patterns of your own add to the defaults; default_masks=False drops those.
            patterns=(*defaults, *(patterns or ())),
            keep_control=keep_control,
            default_masks=default_masks,
            transforms=tuple(transforms),
        )

    def __call__(self, events: Iterable[Mapping[str, Any]]) -> list[Event]:
        return normalize(events, self)

    def describe(self) -> dict[str, Any]:
        """The options as JSON, for a golden file's header; {} for the defaults."""
        defaults = len(DEFAULT_PATTERNS) if self.default_masks else 0
        own = [
            [p.pattern if isinstance(p, re.Pattern) else p, placeholder]
            for p, placeholder in self.patterns[defaults:]
        ]
        described = {
            "strict": self.strict,
            "default_masks": self.default_masks,
            "mask_paths": dict(self.mask_paths),
            "patterns": own,
            "transforms": [callable_name(t) for t in self.transforms],
        }
        # Only what differs from the defaults: a header says what is special.
        return {k: v for k, v in described.items() if v != _DEFAULT_DESCRIPTION[k]}

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> Normalizer:
        """The normalizer a golden file's header names; transforms are imported by name."""
        return cls.build(
            strict=bool(described.get("strict", False)),
            mask_paths=dict(described.get("mask_paths") or {}),
            patterns=[(str(p), str(ph)) for p, ph in described.get("patterns") or []],
            default_masks=bool(described.get("default_masks", True)),
            transforms=[import_callable(n) for n in described.get("transforms") or []],
        )


_DEFAULT_DESCRIPTION: dict[str, Any] = {
    "strict": False,
    "default_masks": True,
    "mask_paths": {},
    "patterns": [],
    "transforms": [],
}


def callable_name(function: Callable[..., Any]) -> str:
    """``module:qualified.name``, what import_callable reads back."""
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}:{name}"


def import_callable(spec: str) -> Transform:
    """The callable named ``module:name`` (``module:Class.method`` too); ValueError with
    a sentence when there is none, such as a lambda or a function inside a test."""
    import importlib

    module_name, _, name = spec.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in name.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(
            f"the normalizer {spec!r} cannot be imported ({e}); name a module-level "
            "function as module:function, importable from where you run this"
        ) from None
    if not callable(value):
        raise ValueError(f"the normalizer {spec!r} is not callable")
    function: Transform = value
    return function


def normalize(
    events: Iterable[Mapping[str, Any]], options: Normalizer | None = None
) -> list[Event]:
    """Return the normal form of ``events`` (envelopes or any dicts with a `type`)."""
    opts = options or Normalizer()
    kept = [
        _strip(event)
        for event in events
        if opts.keep_control or not _is_control(str(event.get("type", "")))
    ]
    merged = kept if opts.strict else _coalesce(kept)
    compiled = [(re.compile(p) if isinstance(p, str) else p, ph) for p, ph in opts.patterns]
    paths = [(_parse_path(p), ph) for p, ph in opts.mask_paths.items()]
    matched: set[int] = set()
    masked = [_mask(event, paths, compiled, matched) for event in merged]
    unmatched = [p for i, p in enumerate(opts.mask_paths) if i not in matched]
    if unmatched:
        raise ValueError(
            f"mask path {unmatched[0]!r} matches nothing in these {len(merged)} events; "
            "check its spelling (paths look like 'data.result.id' or 'data.items[*].id')"
        )
    if opts.default_masks:
        masked = _mask_ids(masked)
    for transform in opts.transforms:
        masked = transform(masked)
    return masked


def _is_control(kind: str) -> bool:
    # The wire of a capture with record_wire is the same stream as the parsed events,
    # unparsed, in chunks that differ from run to run.
    return kind.startswith(CONTROL_PREFIXES) or kind in WIRE_TYPES


def _strip(event: Mapping[str, Any]) -> Event:
    return {key: value for key, value in event.items() if key not in VOLATILE_FIELDS}


def _coalesce(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    open_message: Event | None = None
    open_id: object = None
    for event in events:
        if event.get("type") != DELTA_TYPE:
            out.append(event)
            open_message = None
            continue
        data = event.get("data") or {}
        message_id = data.get("message_id")
        text = str(data.get("text", ""))
        if open_message is not None and message_id == open_id:
            open_message["data"]["text"] += text
            continue
        # The message id is the provider's and differs between runs; the
        # entry boundary already says where one message ends and the next begins.
        open_message = {"type": MESSAGE_TYPE, "data": {"text": text}}
        open_id = message_id
        out.append(open_message)
    return out


# A path is a list of steps: a key, an index, or WILDCARD.
WILDCARD = object()
_STEP = re.compile(r"\[(\*|\d+)\]|([^.\[\]]+)")


def _parse_path(path: str) -> list[object]:
    steps: list[object] = []
    for index, key in _STEP.findall(path.removeprefix("$").lstrip(".")):
        if index:
            steps.append(WILDCARD if index == "*" else int(index))
        else:
            steps.append(WILDCARD if key == "*" else key)
    if not steps:
        raise ValueError(f"mask path {path!r} is empty; write it like 'data.args.q'")
    return steps


def _mask(
    value: Any,
    paths: list[tuple[list[object], str]],
    patterns: list[tuple[re.Pattern[str], str]],
    matched: set[int],
) -> Any:
    # Path masks first, on the exact value; then regexes on the strings that remain.
    for number, (steps, placeholder) in enumerate(paths):
        hits: list[bool] = []
        value = _mask_path(value, steps, placeholder, hits)
        if hits:
            matched.add(number)
    return _mask_strings(value, patterns)


def _mask_path(value: Any, steps: list[object], placeholder: str, hits: list[bool]) -> Any:
    if not steps:
        hits.append(True)
        return placeholder
    step, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        return {
            key: _mask_path(item, rest, placeholder, hits)
            if step is WILDCARD or step == key
            else item
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _mask_path(item, rest, placeholder, hits) if step is WILDCARD or step == i else item
            for i, item in enumerate(value)
        ]
    return value


def _mask_ids(events: list[Event]) -> list[Event]:
    """Per-call ids as numbered placeholders (the first seen is 1), epoch integers as <epoch>."""
    numbers: dict[str, str] = {}
    counts: dict[str, int] = {}

    def placeholder(kind: str, original: str) -> str:
        if original not in numbers:
            counts[kind] = counts.get(kind, 0) + 1
            numbers[original] = f"<{kind}_{counts[kind]}>"
        return numbers[original]

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            for pattern, kind in NUMBERED_IDS:

                def number(match: re.Match[str], kind: str = kind) -> str:
                    return placeholder(match.expand(kind), match.group(0))

                value = pattern.sub(number, value)
            return value
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and any(low <= value < high for low, high in _EPOCH_RANGES):
            return EPOCH_PLACEHOLDER
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return [walk(event) for event in events]


def _mask_strings(value: Any, patterns: list[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(value, str):
        for pattern, placeholder in patterns:
            value = pattern.sub(placeholder, value)
        return value
    if isinstance(value, dict):
        return {key: _mask_strings(item, patterns) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_strings(item, patterns) for item in value]
    return value
