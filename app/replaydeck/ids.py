"""Session ids: one rule for the server, the middleware and the recorder."""

from __future__ import annotations

import re

SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def is_session_id(value: str) -> bool:
    # fullmatch: with match() and a `$`, "abc\n" passed and made a second session.
    return SESSION_ID.fullmatch(value) is not None
