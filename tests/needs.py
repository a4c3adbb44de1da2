"""What to do when a test's real dependency (a server, a browser, a binary) is absent.

On a developer's machine the test is skipped with a sentence saying how to get it;
under CI (CI=true) it fails, because CI installs everything and must not count a
skipped test as a pass.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)
