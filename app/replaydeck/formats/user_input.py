"""The user's turn: the `user.message` a protocol's request body carries.

The request shapes that start a model call, told apart by their fields:

- OpenAI Responses: `input`, a string or a list of input items (`{"role": "user",
  "content": str | [{"type": "input_text", "text": …}, …]}`);
- OpenAI Chat Completions: `messages`, `{"role": "user", "content": str | [{"type":
  "text", "text": …}, …]}`;
- AG-UI run input: `messages`, `{"id", "role": "user", "content": str | [{"type":
  "text", "text": …}, …]}`;
- Vercel AI SDK: `messages` of UI messages, `{"id", "role": "user", "parts": [{"type":
  "text", "text": …}, …]}`.

Only the last message counts, and only when it is the user's: a request that goes on
after tool results (the next model call of the same turn) carries no new user turn, so
an agent run that resends its history records the user's message once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

TEXT_PARTS = frozenset({"text", "input_text"})


def user_message_from_body(body: bytes) -> dict[str, Any] | None:
    """The `user.message` payload of a JSON request body, or None when it has none."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return user_message(document) if isinstance(document, Mapping) else None


def is_model_call(body: bytes) -> bool:
    """A request body that asks a model for an answer: `model` and `input` (Responses)
    or `messages` (Chat Completions). Its JSON answer, when not streamed, is recorded."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(document, Mapping)
        and isinstance(document.get("model"), str)
        and ("input" in document or "messages" in document)
    )


def user_message(request: Mapping[str, Any]) -> dict[str, Any] | None:
    messages = request.get("messages")
    if isinstance(messages, list):
        return _from_message(messages[-1] if messages else None)
    given = request.get("input")
    if isinstance(given, str):
        return {"text": given}
    if isinstance(given, list):
        return _from_message(given[-1] if given else None)
    return None


def _from_message(message: Any) -> dict[str, Any] | None:
    if not isinstance(message, Mapping) or message.get("role") != "user":
        return None
    if message.get("type", "message") != "message":
        return None  # a Responses item of another kind (function_call_output …)
    # AI SDK UI messages keep their content in `parts`; the others in `content`.
    content = message.get("parts", message.get("content"))
    payload: dict[str, Any]
    if isinstance(content, str):
        payload = {"text": content}
    elif isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping)
            and part.get("type") in TEXT_PARTS
            and isinstance(part.get("text"), str)
        ]
        payload = {"text": "\n".join(texts), "content": content}
    else:
        return None
    if isinstance(message.get("id"), str) and message["id"]:
        payload["message_id"] = message["id"]
    return payload
