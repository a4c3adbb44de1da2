"""The recorded_upstream fixture's record modes, run by a real pytest in a subprocess."""

import json
import textwrap
from pathlib import Path

from tests.examples.llm import llm_app
from tests.servers import serve
from tests.testing.test_golden_plugin import run_pytest

TEST_MODULE = """
import os

import httpx
from openai import OpenAI


def test_weather(recorded_upstream):
    client = OpenAI(
        base_url=os.environ["LLM_URL"] + "/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(transport=recorded_upstream.transport),
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Paris?"}], stream=True
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.tool_calls[0].function.name == "get_weather"
"""
RECORDING = Path("upstreams/test_agent/test_weather.json")


def test_record_modes(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_agent.py").write_text(textwrap.dedent(TEST_MODULE))
    nowhere = {"LLM_URL": "http://llm.invalid"}

    refused = run_pytest(tmp_path, env=nowhere)
    assert refused.returncode == 1, refused.stdout
    assert "1 request(s) had no recorded exchange in upstreams/test_agent/test_weather.json" in (
        refused.stdout
    )
    assert "POST /v1/chat/completions: nothing is recorded" in refused.stdout
    assert "--upstream-record-mode=once" in refused.stdout
    assert not (tmp_path / RECORDING).exists()

    with serve(llm_app()) as llm:  # type: ignore[arg-type]
        first = run_pytest(tmp_path, "--upstream-record-mode=once", env={"LLM_URL": llm.url})
        assert first.returncode == 0, first.stdout
        recorded = json.loads((tmp_path / RECORDING).read_text())
        again = run_pytest(tmp_path, "--upstream-record-mode=rewrite", env={"LLM_URL": llm.url})
        assert again.returncode == 0, again.stdout
        rewritten = json.loads((tmp_path / RECORDING).read_text())
    assert [e["request"]["path"] for e in recorded["exchanges"]] == ["/v1/chat/completions"]
    # The stand-in service makes new ids each call: a rewrite holds the new answer.
    assert rewritten != recorded

    # The service is gone and its URL does not resolve: the recording answers alone.
    replayed = run_pytest(tmp_path, env=nowhere)
    assert replayed.returncode == 0, replayed.stdout
    ini_mode = run_pytest(tmp_path, env=nowhere | {"PYTEST_ADDOPTS": "-o upstream_record_mode=bad"})
    assert ini_mode.returncode != 0
    assert "upstream_record_mode = 'bad' is not a record mode" in ini_mode.stdout + ini_mode.stderr
