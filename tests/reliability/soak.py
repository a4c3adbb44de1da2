"""Scenario sizes: small enough for CI, scaled up with REPLAYDECK_SOAK=1."""

from __future__ import annotations

import os

SOAK = os.environ.get("REPLAYDECK_SOAK", "") not in ("", "0")


def size(ci: int, soak: int) -> int:
    return soak if SOAK else ci


def seconds(ci: float, soak: float) -> float:
    return soak if SOAK else ci
