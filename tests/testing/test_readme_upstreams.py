"""The README's recorded-upstream example runs as written, in a project of its own.

The example imports `run_turn` from the user's `my_agent`; here that is the weather
agent of tests/examples, and the recordings are the ones tests/examples plays.
"""

import re
import shutil
from pathlib import Path

from tests.testing.test_golden_plugin import run_pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "examples" / "upstreams" / "test_agent_upstream" / "weather.json"


def readme_example(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, blocks
    return str(blocks[0])


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_weather.py").write_text(readme_example("### Recorded upstreams"))
    shutil.copy(ROOT / "tests" / "examples" / "agent.py", tmp_path / "my_agent.py")
    for test in ("test_weather", "test_weather_over_http"):
        target = tmp_path / "upstreams" / "test_weather" / f"{test}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RECORDING, target)

    first = run_pytest(tmp_path, "--golden-update")
    assert first.returncode == 0, first.stdout
    assert "created: golden/test_weather.jsonl" in first.stdout
    again = run_pytest(tmp_path)
    assert again.returncode == 0, again.stdout
    assert "2 passed" in again.stdout
    # Both tests, through the transport and through the real port, wrote the same.
    golden = tmp_path / "golden"
    assert (golden / "test_weather.jsonl").read_text() == (
        golden / "test_weather_over_http.jsonl"
    ).read_text()
