"""Scale-out fixtures: a real Ray head node on this machine, and the lineage tests' PostgreSQL server.

The head is started the way a user starts one (`ray start --head --block`), with token authentication
as the compose file configures it (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN), so the test needs nothing from
~/.ray. It runs in its own process group: teardown ends exactly the processes this fixture started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lineage.conftest import pg_server  # noqa: F401  (the session PostgreSQL server, reused here)

RAY = str(Path(sys.executable).with_name("ray"))
# Set for this whole process at import: Ray reads its auth settings once, when it is first imported here.
RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0"}
os.environ.update(RAY_ENV)


@dataclass(frozen=True)
class RayHead:
    address: str  # host:port of the head's GCS, as `--ray-address` takes it
    pid: int  # the `ray start --block` process: every node process and worker descends from it
    env: dict[str, str]  # what a driver needs to join (the auth token)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether `ancestor` is `pid`'s parent, grandparent, ... (Linux /proc)."""
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after the parenthesised command name
        if pid == ancestor:
            return True
    return False


def processes(containing: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose command line contains `containing`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if containing in cmd:
                found.append((int(entry.name), cmd))
    return found


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    """A one-node Ray cluster with 2 CPUs, for the module."""
    if not Path(RAY).exists():
        pytest.fail("Ray is not installed: pip install -e '.[dev]' installs it")
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths must fit in 107 bytes
    env = dict(RAY_ENV)
    log = (temp / "head.log").open("w")
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--num-cpus", "2", "--include-dashboard", "false", "--temp-dir", str(temp / "r")],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address = _wait_for_head(head, port, temp / "head.log")
        yield RayHead(address, head.pid, env)
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops its node processes on SIGTERM
        try:
            head.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # whatever did not stop (same group: started by this fixture)
        except ProcessLookupError:
            pass
        head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_head(head: subprocess.Popen, port: int, log: Path) -> str:
    """The GCS address once the head accepts connections. Ray resolves 127.0.0.1 to this host's address."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if head.poll() is not None:
            pytest.fail(f"ray start --head exited: {log.read_text()[-2000:]}")
        for host in ("127.0.0.1", socket.gethostbyname(socket.gethostname())):
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    pass
            except OSError:
                continue
            if "Ray runtime started" in log.read_text():
                return f"{host}:{port}"
        time.sleep(0.5)
    pytest.fail(f"the Ray head did not come up in 90 s: {log.read_text()[-2000:]}")
