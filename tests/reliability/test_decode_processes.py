"""The decode worker processes (``MAASKIT_DECODE_PROCESSES``) never outlive their server.

uvicorn re-raises SIGTERM once its graceful shutdown is done, so a pool stopped without waiting left its
workers behind (two idle Python processes per server start, for good); a server killed outright left them
too. Now shutdown waits for them, and a worker whose server is gone exits within a second.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bench.common import PYTHON, free_port, start_server

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_decode_workers_end_with_their_server(rel_bundles, stop):
    port = free_port()
    command = [PYTHON, "-m", "maaskit", "serve", str(rel_bundles.iris), "--port", str(port)]
    env = {"MAASKIT_INTRA_OP_THREADS": "1", "MAASKIT_ACCESS_LOG": "false", "MAASKIT_DECODE_PROCESSES": "2"}
    with start_server(f"decode-workers-{stop}", command, port, env) as server:
        workers = [pid for pid in _children(server.process.pid) if "spawn_main" in _cmdline(pid)]
        assert len(workers) == 2, [_cmdline(pid) for pid in _children(server.process.pid)]
        if stop == "sigterm":
            server.stop()
        else:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
        left = _gone_within(workers, 10)
        for pid in left:  # never leave them behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"decode workers outlived their server ({stop})"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
