"""The ``recorded_upstream`` fixture's value: one test's recorded upstream.

The file is ``<upstream_dir>/<test module>/<test name>.json`` beside the test module
(``upstreams/test_agent/test_weather.json``), as pytest-recording names cassettes.
``transport`` is for httpx clients (the OpenAI SDK's ``http_client``); ``url`` starts
the same recording on a real port, for any other client.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from replaydeck.testing.faults import Fault
from replaydeck.testing.upstream import RecordedUpstream


class Upstream:
    def __init__(self, path: Path, *, upstream: str | None = None, **options: Any) -> None:
        self.path = path
        self.transport = RecordedUpstream(path, **options)
        # Where the real-port server sends what it records; may be set until `url` is read.
        self.upstream = upstream
        self._url: str | None = None
        self._stack = ExitStack()

    @property
    def recording(self) -> bool:
        """True when requests with no recorded exchange go to the real upstream."""
        return self.transport.records

    @property
    def url(self) -> str:
        """The recording served on a real port (started on first use); its base URL."""
        if self._url is None:
            # Imported here: the server needs uvicorn, which the client install lacks.
            from replaydeck.testing.upstream_server import serve_upstream

            self._url = self._stack.enter_context(
                serve_upstream(self.transport, upstream=self.upstream)
            )
        return self._url

    def inject(self, *faults: Fault) -> None:
        """Spoil the next answers: ``disconnect``, ``rate_limit``, ``malformed_frame``,
        ``latency`` or ``status`` from ``replaydeck.testing.faults``."""
        self.transport.inject(*faults)

    def close(self) -> None:
        self._stack.close()
        self.transport.close()
