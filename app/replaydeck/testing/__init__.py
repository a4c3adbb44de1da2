"""Golden-sequence testing: normalize, diff, golden files, deterministic replay.

The pytest plugin imports this package in every test run, so the parts that pull
in HTTP clients and servers (`replay`, `fake_stream`, `serve_fake_stream`,
`RecordedUpstream`, `serve_upstream`) load on first use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replaydeck.testing.diff import Divergence, diff, divergences, first_divergence
from replaydeck.testing.normalize import Normalizer, normalize

if TYPE_CHECKING:
    from replaydeck.testing.playback import replay
    from replaydeck.testing.upstream import RecordedUpstream
    from replaydeck.testing.upstream_server import serve_upstream
    from replaydeck.testing.vcr import fake_stream, serve_fake_stream

__all__ = [
    "Divergence",
    "Normalizer",
    "RecordedUpstream",
    "diff",
    "divergences",
    "fake_stream",
    "first_divergence",
    "normalize",
    "replay",
    "serve_fake_stream",
    "serve_upstream",
]

# The modules are not named after the functions: importing a submodule binds its
# name on this package, which would shadow a function of the same name.
_LAZY = {
    "replay": "replaydeck.testing.playback",
    "fake_stream": "replaydeck.testing.vcr",
    "serve_fake_stream": "replaydeck.testing.vcr",
    "RecordedUpstream": "replaydeck.testing.upstream",
    "serve_upstream": "replaydeck.testing.upstream_server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as e:
            # The fake stream server runs on Starlette and uvicorn, the server's packages.
            raise ModuleNotFoundError(
                f"replaydeck.testing.{name} needs {e.name}, which comes with the server: "
                "pip install 'replaydeck[server]'",
                name=e.name,
            ) from e
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'replaydeck.testing' has no attribute {name!r}")
