"""Reading what the LangSmith SDKs send: multipart run pieces, JSON batches, one run.

The SDKs compress multipart bodies when the server says it can (zstd from Python,
gzip or zstd from JS); a body is decompressed up to the request limit and no
further, so a small compressed body cannot make the server hold gigabytes.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import zstandard
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from replaydeck.errors import InvalidEvent, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from replaydeck.telemetry.langsmith_runs import Run, parse_run

# The pieces of a run each multipart part may hold (`post.<id>.<field>`).
RUN_FIELDS = frozenset({"inputs", "outputs", "events", "extra", "error", "serialized"})


@dataclass
class Batch:
    runs: list[Run] = field(default_factory=list)
    # Parts replaydeck does not record (attachments, feedback), counted for the answer.
    skipped: int = 0


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {limit} bytes once decompressed "
        "(REPLAYDECK_MAX_REQUEST_BYTES). The LangSmith SDK sends smaller batches when "
        "/langsmith/info says so, which it does: update the SDK, or set "
        "LANGSMITH_BATCH_INGEST_SIZE_LIMIT lower."
    )


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    coding = (encoding or "identity").strip().lower()
    try:
        if coding == "identity":
            plain = body
        elif coding == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(
                io.BytesIO(body), read_across_frames=True
            )
            plain = reader.read(limit + 1)
        elif coding == "gzip":
            plain = zlib.decompressobj(wbits=31).decompress(body, limit + 1)
        else:
            raise UnsupportedMediaType(
                f"Content-Encoding {coding[:40]!r} is not accepted here; send the body "
                "as it is, or compressed with zstd or gzip."
            )
    except (zstandard.ZstdError, zlib.error) as e:
        raise InvalidRequest(
            f"The request body is not valid {coding} data ({e}); send it as the "
            "Content-Encoding header says, or without that header."
        ) from None
    if len(plain) > limit:
        raise too_large(limit)
    return plain


def _json(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidEvent(f"{what} is not valid JSON: {e}.") from None


def _count(runs: int, limit: int) -> None:
    if runs > limit:
        raise PayloadTooLarge(
            f"The request holds more than {limit} runs (REPLAYDECK_MAX_BATCH_EVENTS); "
            "send them in several requests."
        )


def read_batch(body: bytes, *, max_runs: int) -> Batch:
    """`POST /runs/batch`: {"post": [run, …], "patch": [run, …]}."""
    parsed = _json(body, "The request body") if body.strip() else {}
    if not isinstance(parsed, dict):
        raise InvalidEvent(
            f"The request body is a JSON {type(parsed).__name__}; send an object "
            '{"post": [runs started], "patch": [runs ended]}, as the LangSmith SDK does.'
        )
    batch = Batch()
    for section in ("post", "patch"):
        items = parsed.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InvalidEvent(
                f"'{section}' is a JSON {type(items).__name__}; it must be an array of runs."
            )
        _count(len(batch.runs) + len(items), max_runs)
        batch.runs += [parse_run(item, section, index) for index, item in enumerate(items)]
    return batch


def read_one(body: bytes, *, section: str, run_id: str | None = None) -> Run:
    """`POST /runs` (one run started) or `PATCH /runs/{id}` (one run ended)."""
    if not body.strip():
        raise InvalidRequest("The request body is empty; send the run as a JSON object.")
    return parse_run(_json(body, "The request body"), section, 0, run_id=run_id)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)

    @property
    def name(self) -> str:
        _, options = parse_options_header(self.headers.get("content-disposition", ""))
        return options.get(b"name", b"").decode("utf-8", "replace")


def _parts(body: bytes, content_type: str, max_parts: int) -> list[_Part]:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest(
            "The multipart Content-Type has no boundary; send "
            "'multipart/form-data; boundary=…' as the LangSmith SDK does."
        )
    parts: list[_Part] = []
    header = bytearray()
    value = bytearray()

    def begin() -> None:
        if len(parts) >= max_parts:
            raise PayloadTooLarge(
                f"The multipart body has more than {max_parts} parts; send the runs in "
                "several requests."
            )
        parts.append(_Part())

    def add(target: bytearray) -> Callable[[bytes, int, int], None]:
        return lambda data, start, end: target.extend(data[start:end])

    def header_end() -> None:
        parts[-1].headers[header.decode("latin-1").lower()] = value.decode("latin-1")
        header.clear()
        value.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_part_data": lambda data, start, end: parts[-1].data.extend(data[start:end]),
            "on_header_field": add(header),
            "on_header_value": add(value),
            "on_header_end": header_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as e:
        raise InvalidRequest(
            f"The multipart body cannot be read ({e}); send multipart/form-data as the "
            "LangSmith SDK does."
        ) from None
    return parts


def read_multipart(body: bytes, content_type: str, *, max_runs: int) -> Batch:
    """`POST /runs/multipart`: parts `post.<id>`, `patch.<id>`, `post.<id>.<field>` …"""
    batch = Batch()
    pieces: dict[tuple[str, str], dict[str, Any]] = {}
    fields: list[tuple[str, str, str, Any]] = []
    for part in _parts(body, content_type, max_parts=max_runs * (len(RUN_FIELDS) + 1)):
        name = part.name
        kind, _, rest = name.partition(".")
        if kind in ("attachment", "feedback"):
            batch.skipped += 1
            continue
        run_id, _, piece = rest.partition(".")
        if kind not in ("post", "patch") or not run_id or (piece and piece not in RUN_FIELDS):
            raise InvalidEvent(
                f"The multipart part {name[:120]!r} is not one the LangSmith SDK sends; "
                "parts are named post.<run id>, patch.<run id>, <post|patch>.<run id>.<field> "
                f"(one of {', '.join(sorted(RUN_FIELDS))}), attachment.… or feedback.…."
            )
        declared = part.headers.get("content-type", "application/json").split(";")[0].strip()
        if declared.lower() != "application/json":
            raise InvalidEvent(
                f"The multipart part {name[:120]!r} is {declared[:60]!r}; run parts must be "
                "application/json."
            )
        value = _json(bytes(part.data), f"The multipart part {name[:120]!r}")
        if not piece:
            if not isinstance(value, dict):
                raise InvalidEvent(
                    f"The multipart part {name[:120]!r} is a JSON {type(value).__name__}; "
                    "a run is an object."
                )
            pieces[(kind, run_id)] = value
        elif piece != "serialized":  # the model's constructor: nothing a user saw
            fields.append((kind, run_id, piece, value))
    for kind, run_id, piece, value in fields:
        main = pieces.get((kind, run_id))
        if main is None:
            raise InvalidEvent(
                f"The multipart part '{kind}.{run_id[:60]}.{piece}' has no part "
                f"'{kind}.{run_id[:60]}' with the run itself; send both in one request."
            )
        main[piece] = value
    _count(len(pieces), max_runs)
    for index, ((kind, run_id), raw) in enumerate(pieces.items()):
        if raw.get("id") not in (None, run_id):
            raise InvalidEvent(
                f"The multipart part '{kind}.{run_id[:60]}' holds a run whose id is "
                f"{str(raw.get('id'))[:60]!r}; the part's name and the run must agree."
            )
        batch.runs.append(parse_run(raw, kind, index, run_id=run_id))
    return batch
