"""Keep share tokens out of logs: a path mask and a logging filter for access logs.

A share URL is a bearer credential; anyone who reads a log line with `/r/<token>`
can open the session. uvicorn's access log prints every request path, so its
records pass through `ShareTokenFilter`, which rewrites the token to `[token]`.
"""

from __future__ import annotations

import logging
import re

# A path starts the text, follows whitespace or a quote, or follows a URL's host,
# so `/v1/sessions/r/events` (a session named "r") is left alone.
_SHARE_PATH = re.compile(r"(^|[\s\"'(]|//[^/\s\"']+)/r/[^/?#\s\"']+")
MASK = "[token]"
# Loggers that print request paths: uvicorn's access log, and its error log,
# which names the path when an ASGI app fails.
LOGGERS = ("uvicorn.access", "uvicorn.error")


def mask_share_path(text: str) -> str:
    """`/r/<token>/events?after=3` → `/r/[token]/events?after=3`, anywhere in text."""
    return _SHARE_PATH.sub(r"\g<1>/r/" + MASK, text)


class ShareTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn formats lazily: the path sits in record.args until a handler
        # renders the message, so mask the arguments as well as the template.
        if isinstance(record.msg, str):
            record.msg = mask_share_path(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_share_path(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {
                key: mask_share_path(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        return True


def install_log_filter(names: tuple[str, ...] = LOGGERS) -> None:
    """Idempotent: attach one ShareTokenFilter to each named logger."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ShareTokenFilter) for f in logger.filters):
            logger.addFilter(ShareTokenFilter())
