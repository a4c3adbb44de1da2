"""The wire of one captured exchange, as events: enough to play the upstream back.

With `record_wire=True` (`replaydeck proxy --record-wire`) a recorded stream's session
also holds what went over HTTP, besides the events parsed from it:

- `http.request` `{method, path, content_type, json | text | base64}`: the request
  line and body (never its headers: they carry the API key), stamped when the body
  arrived;
- `http.response` `{status, headers: ["name: value", ...]}`, stamped when the
  response started;
- `http.chunk` `{text | base64}`: each body chunk as it went to the client, stamped
  on its way (a chunk over CHUNK_LIMIT bytes is split, so no event passes the store's
  size limit).

`replaydeck.testing.cassette` turns these back into an exchange that a recorded
upstream plays byte for byte at the recorded timing. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

REQUEST = "http.request"
RESPONSE = "http.response"
CHUNK = "http.chunk"
# Base64 makes 48 KiB into 64 KiB, well under the store's 256 KiB event limit.
CHUNK_LIMIT = 48 * 1024
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)


def encode_bytes(data: bytes) -> dict[str, str]:
    """Text when the bytes are UTF-8 (readable in a file or the viewer), else base64."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def decode_bytes(item: Mapping[str, Any]) -> bytes:
    if "base64" in item:
        return base64.b64decode(str(item["base64"]))
    return str(item.get("text", "")).encode("utf-8")


def encode_body(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    if "json" in content_type.lower():
        try:
            return {"json": json.loads(body)}
        except ValueError:
            pass
    return encode_bytes(body)


def decode_body(item: Mapping[str, Any]) -> bytes:
    if "json" in item:
        # Compact, as most clients send it; only matching reads it back.
        return json.dumps(item["json"], separators=(",", ":"), ensure_ascii=False).encode()
    return decode_bytes(item)


def header_lines(headers: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{k.lower()}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]


def parse_header_line(line: str) -> tuple[str, str]:
    name, _, value = str(line).partition(":")
    return name.strip().lower(), value.strip()


def request_data(method: str, path: str, content_type: str, body: bytes | None) -> dict[str, Any]:
    data: dict[str, Any] = {"method": method, "path": path, "content_type": content_type}
    if body is None:
        data["body_omitted"] = True  # over the size limit, or not read before the answer
    else:
        data.update(encode_body(body, content_type))
    return data


def response_data(status: int, headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {"status": status, "headers": header_lines(headers)}


def chunk_data(data: bytes) -> Iterator[dict[str, str]]:
    for start in range(0, len(data), CHUNK_LIMIT):
        yield encode_bytes(data[start : start + CHUNK_LIMIT])
