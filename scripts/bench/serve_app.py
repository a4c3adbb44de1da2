"""Run replaydeck for a benchmark: one uvicorn process on uvloop + httptools.

As `replaydeck serve` runs it (the same bounded httptools protocol), minus the
start-up checks and log set-up. Settings come from REPLAYDECK_* variables.
"""

from __future__ import annotations

import argparse

import uvicorn

from replaydeck.config import Settings
from replaydeck.web.app import create_app
from replaydeck.web.http_limits import bounded_protocol
from replaydeck.web.serve import freeze_startup_heap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(port=args.port)
    app = create_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http=bounded_protocol(
            max_head_bytes=settings.max_header_bytes, head_timeout=settings.header_timeout
        ),
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
