"""Capture: get events from any stack into replaydeck (SDK, ASGI middleware, proxy)."""
