"""The chain guard: the chains a worker started, and what they started, die when the worker dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

WORKER = """
import subprocess, sys, time
from hymotep.chain_guard import chain_guard
guard = chain_guard()
finished = subprocess.Popen(["true"], start_new_session=True)
guard.started(finished.pid)
finished.wait()
guard.ended(finished.pid)
chain = subprocess.Popen(["sh", "-c", "sleep 300 & echo $! > " + sys.argv[1] + "; wait"], start_new_session=True)
guard.started(chain.pid)
print(chain.pid, flush=True)
time.sleep(300)
"""


def test_a_killed_worker_takes_its_chains_and_their_children_with_it(tmp_path: Path) -> None:
    grandchild = tmp_path / "grandchild"
    with subprocess.Popen([sys.executable, "-c", WORKER, str(grandchild)], stdout=subprocess.PIPE, text=True) as worker:
        assert worker.stdout is not None
        chain = int(worker.stdout.readline())
        deadline = time.monotonic() + 30
        while not (grandchild.exists() and grandchild.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [chain, int(grandchild.read_text())]
        assert all(alive(pid) for pid in pids)
        worker.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
