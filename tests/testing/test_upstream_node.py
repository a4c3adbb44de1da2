"""A client in another language: the official OpenAI Node SDK on the real port.

The weather agent, written again in JavaScript (tests/js/upstream-openai/agent.mjs),
runs against the recording tests/examples plays through the Python SDK, and does
what the golden file says.
"""

import json
import shutil
import subprocess
from pathlib import Path

from replaydeck.testing import golden as golden_files
from replaydeck.testing.normalize import normalize
from replaydeck.testing.upstream import RecordedUpstream
from replaydeck.testing.upstream_server import serve_upstream
from tests.needs import missing

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "js" / "upstream-openai"
RECORDING = ROOT / "tests" / "examples" / "upstreams" / "test_agent_upstream" / "weather.json"
GOLDEN = ROOT / "tests" / "examples" / "golden" / "weather_agent.jsonl"


def test_the_openai_node_sdk_runs_the_agent_on_the_recorded_upstream() -> None:
    node = shutil.which("node")
    if node is None or not (SUITE / "node_modules" / "openai").is_dir():
        missing("node and the openai npm package are needed: run scripts/node-deps")
    upstream = RecordedUpstream(RECORDING)
    with serve_upstream(upstream) as url:
        done = subprocess.run(
            [str(node), "agent.mjs", f"{url}/v1"],
            cwd=SUITE,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert normalize(events) == golden_files.read(GOLDEN)
    assert not upstream.playlist.unplayed()
    assert not upstream.refused
