"""The text of a model message's content, as the frameworks export it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Text parts of a content list: LangChain's and Chat Completions' `text`, the
# Responses API's `output_text`, and parts without a type.
TEXT_PARTS = (None, "text", "output_text")


def content_text(content: Any) -> str:
    """A string as it is; a list of parts as its text parts joined (plain strings
    count; images, tool calls and the rest are not text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else part["text"]
            for part in content
            if isinstance(part, str)
            or (
                isinstance(part, Mapping)
                and part.get("type") in TEXT_PARTS
                and isinstance(part.get("text"), str)
            )
        )
    return ""
