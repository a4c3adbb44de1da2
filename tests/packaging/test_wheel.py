"""The wheel, installed as users install it, beside a project that is not ours.

The wheel is built from this checkout and installed into fresh virtual
environments outside it, next to a small user project laid out the FastAPI way:
its own `app/` package and its own `conftest.py`. Nothing here imports
replaydeck from the checkout: every check runs in the user's environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.reliability.procs import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

USER_APP = '''
"""The user's own app package: the name every FastAPI project uses."""
'''

USER_MAIN = """
from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.sdk import Recorder

WHO = "the user's app.main"


async def stream(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    for word in ("hello", " world"):
        chunk = 'data: {"type": "message.delta", "data": {"text": "%s"}}\\n\\n' % word
        await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


recorder = Recorder("http://127.0.0.1:9", None)
app = RecordingMiddleware(stream, recorder)
"""

USER_CONFTEST = """
import pytest

@pytest.fixture
def greeting():
    return "hello"
"""

USER_TEST = """
import app
import app.main
import replaydeck
from replaydeck.capture.middleware import RecordingMiddleware
from replaydeck.capture.sdk import Recorder


def test_the_users_app_is_the_users(greeting):
    assert app.main.WHO == "the user's app.main"
    assert app.__file__.startswith(%(project)r)
    assert not replaydeck.__file__.startswith(%(checkout)r)
    assert isinstance(app.main.app, RecordingMiddleware)
    assert greeting == "hello"


def test_golden(golden):
    events = [{"type": "message.delta", "data": {"text": "hi"}},
              {"type": "final", "data": {}}]
    golden.assert_match(events, "greeting")


def test_upstream(recorded_upstream):
    import httpx

    with httpx.Client(transport=recorded_upstream.transport) as client:
        reply = client.post("https://llm.invalid/v1/chat/completions", json={})
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.text == "data: [DONE]\\n\\n"
"""

USER_UPSTREAM = {
    "replaydeck_upstream": 1,
    "exchanges": [
        {
            "request": {"method": "POST", "path": "/v1/chat/completions"},
            "response": {
                "status": 200,
                "headers": ["content-type: text/event-stream"],
                "chunks": [{"at_ms": 1.0, "text": "data: [DONE]\n\n"}],
            },
        }
    ],
}


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**_clean_env(), **(env or {})},
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _clean_env() -> dict[str, str]:
    # No trace of the checkout's own environment: the user has none of it.
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
    return {
        k: v for k, v in os.environ.items() if k not in drop and not k.startswith("REPLAYDECK_")
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT, cwd=out)
    (built,) = out.glob("replaydeck-*.whl")
    return built


def _venv(where: Path, requirement: str) -> Path:
    """A fresh environment with `requirement`, then pytest (installed after the count)."""
    _run(sys.executable, "-m", "venv", where, cwd=where.parent)
    python = where / "bin" / "python"
    pip = (python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    _run(*pip, requirement, cwd=where.parent)
    (where / "packages.json").write_text(json.dumps(sorted(_packages(python))))
    _run(*pip, "pytest", cwd=where.parent)
    return python


def _packages(python: Path) -> set[str]:
    listed = json.loads(_run(python, "-m", "pip", "list", "--format=json", cwd=python.parent))
    return {p["name"].lower() for p in listed} - {"pip", "setuptools", "wheel"}


def _installed(python: Path) -> set[str]:
    """What the replaydeck install itself brought (pytest came after)."""
    return set(json.loads((python.parent.parent / "packages.json").read_text()))


def test_the_wheel_holds_every_module_and_asset_and_nothing_else_at_the_top(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "app" / "replaydeck"
    expected = {
        f"replaydeck/{path.relative_to(package).as_posix()}"
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    expected |= {
        f"replaydeck/migrations/{path.relative_to(ROOT / 'migrations').as_posix()}"
        for path in (ROOT / "migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected - names == set()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"replaydeck", wheel.name.split("-py3")[0] + ".dist-info"}


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("user-project")
    (project / "app").mkdir()
    (project / "app" / "__init__.py").write_text(USER_APP)
    (project / "app" / "main.py").write_text(USER_MAIN)
    (project / "conftest.py").write_text(USER_CONFTEST)
    (project / "tests").mkdir()
    (project / "tests" / "test_user.py").write_text(
        USER_TEST % {"project": str(project), "checkout": str(ROOT)}
    )
    recording = project / "tests" / "upstreams" / "test_user" / "test_upstream.json"
    recording.parent.mkdir(parents=True)
    recording.write_text(json.dumps(USER_UPSTREAM))
    return project


def test_the_client_install_works_in_a_project_with_its_own_app_package(
    wheel: Path, user_project: Path, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    python = _venv(tmp_path / "client-venv", str(wheel))
    installed = _installed(python)
    record_property("client_packages", len(installed))
    print(f"client install: {len(installed)} packages: {sorted(installed)}")
    server_only = {"fastapi", "starlette", "sqlalchemy", "asyncpg", "alembic", "grpcio",
                   "opentelemetry-sdk", "google-re2", "uvicorn", "aiosqlite"}  # fmt: skip
    assert installed & server_only == set()

    # The user's pytest run starts with the plugin loaded, and passes; the golden
    # fixture writes its file on --golden-update and then matches it; a recorded
    # upstream plays without any server package.
    first = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--golden-update",
                 cwd=user_project)  # fmt: skip
    assert "3 passed" in first
    assert (user_project / "tests" / "golden" / "greeting.jsonl").exists()
    again = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=user_project)
    assert "3 passed" in again

    # A server command says what to install, and the client commands answer.
    refused = subprocess.run(
        [python.parent / "replaydeck", "serve"], capture_output=True, text=True, cwd=tmp_path,
        env=_clean_env(), timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "pip install 'replaydeck[server]'" in refused.stderr
    assert _run(python.parent / "replaydeck", "--version", cwd=tmp_path).startswith("replaydeck")


@pytest.fixture
def server_python(wheel: Path, tmp_path: Path) -> Path:
    return _venv(tmp_path / "server-venv", f"{wheel}[server]")


def test_the_server_install_migrates_serves_and_records_from_anywhere(
    server_python: Path, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    installed = _installed(server_python)
    record_property("server_packages", len(installed))
    print(f"server install: {len(installed)} packages")
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    command = server_python.parent / "replaydeck"
    database = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'rd.db'}"
    upgraded = _run(command, "db", "upgrade", "--database-url", database, cwd=elsewhere)
    assert "is up to date" in upgraded

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [command, "serve", "--port", str(port), "--database-url", database],
        cwd=elsewhere, env=_clean_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base) or process.poll() is not None, timeout=60)
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        appended = httpx.post(
            f"{base}/v1/sessions/wheel-1/events",
            json=[{"type": "message.delta", "data": {"text": "hi"}}, {"type": "final"}],
        )
        assert appended.status_code == 200, appended.text
        assert appended.json()["last_seq"] == 2
        page = httpx.get(f"{base}/sessions/wheel-1")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assets = [part.split('"')[0] for part in page.text.split('src="')[1:]]
        assert assets, page.text
        for asset in assets:
            assert httpx.get(f"{base}{asset}" if asset.startswith("/") else asset).is_success
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
    # Nothing was written into the directory it ran from.
    assert list(elsewhere.iterdir()) == []


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
