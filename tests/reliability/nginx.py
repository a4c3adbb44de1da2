"""A real nginx (Debian's package) as the test's own process, on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template

from tests.needs import missing
from tests.reliability.procs import free_port

TEMPLATE = Path(__file__).with_name("nginx.conf.template")


def nginx_binary() -> str:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        message = "nginx is not installed (scripts/system-deps installs it: apt-get install nginx)"
        missing(message)
    return binary


@contextmanager
def nginx_proxy(
    upstream_port: int, prefix: Path, *, read_timeout: float, extra: str = ""
) -> Iterator[str]:
    """Yield the proxy's base URL; nginx is stopped afterwards."""
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = prefix / "nginx.conf"
    config.write_text(
        Template(TEMPLATE.read_text()).substitute(
            prefix=prefix,
            upstream_port=upstream_port,
            port=port,
            read_timeout=f"{read_timeout:g}",
            extra=extra,
        )
    )
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError((prefix / "error.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # ok: polls the port under a deadline
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
