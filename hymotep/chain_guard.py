"""Chains die with the worker that started them: a guard process kills their process groups when the worker is gone.

A chain runs in a session of its own (its process group is what a lost lease or a timeout kills), so a signal to the
worker's group never reaches it, and a killed `hesp run` would leave its chains running. Each worker process starts
one guard, a small Python process in a session of its own that ignores the terminal's signals, and tells it through
a pipe which chains run. The pipe closes when the worker ends, however it ends (killed, crashed, exited): the guard
then kills the process groups of the chains still running, and exits.

Telling the guard is a write on the pipe as a chain starts and another as it ends; executing util-linux's
``setpriv --pdeathsig`` before each chain (the kernel's parent-death signal) cost 1.3 ms of processor time a chain
(benchmarks/run.py), and killed the chain's first process only, not those it started.
"""

from __future__ import annotations

import os
import sys
import threading

from hygor.caching import shared_cache

# Run by the guard's interpreter (`-I -S`: nothing imported but these): "+pid" a chain started, "-pid" it ended. It
# reads what came every half second rather than as it comes: a write that wakes the guard costs the worker a switch
# to it (a fifth of a millisecond a chain); the pipe holds thousands of chains' lines meanwhile.
GUARD = """
import os, signal, time
for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"):
    signal.signal(getattr(signal, name), signal.SIG_IGN)
running, left = set(), b""
while data := os.read(0, 1 << 20):
    lines = (left + data).split(b"\\n")
    left = lines.pop()
    for line in lines:
        (running.add if line[:1] == b"+" else running.discard)(int(line[1:]))
    time.sleep(0.5)
for pid in running:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
"""


class ChainGuard:
    """This process's guard: ``started`` and ``ended`` tell it the chains (session leaders) that run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._write = self._spawn()
        self._generation = 0  # of the guard, replaced when it went away (killed on its own)

    @staticmethod
    def _spawn() -> int:
        """A guard process; the write end of its pipe (not inherited: chains and other children do not hold it)."""
        read, write = os.pipe()
        try:
            os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", "-c", GUARD], {},
                           file_actions=[(os.POSIX_SPAWN_DUP2, read, 0)], setsid=True)  # fmt: skip
        finally:
            os.close(read)
        return write

    def started(self, pid: int) -> None:
        """A guard that went away is replaced: the chains that start from then on are guarded."""
        generation = self._generation
        try:
            self._tell(f"+{pid}\n")
        except BrokenPipeError:
            with self._lock:
                if self._generation == generation:
                    os.close(self._write)
                    self._write, self._generation = self._spawn(), generation + 1
            self._tell(f"+{pid}\n")

    def ended(self, pid: int) -> None:
        """Said before the chain is reaped: its number cannot have gone to another process yet."""
        try:
            self._tell(f"-{pid}\n")
        except BrokenPipeError:
            pass  # that guard is gone, and this chain with it

    def _tell(self, line: str) -> None:
        os.write(self._write, line.encode())  # one short write: whole, whichever job thread writes at once


def chain_guard() -> ChainGuard:
    """The guard of this process (started on first use; a forked child starts its own)."""
    return _guard_of(os.getpid())


@shared_cache
def _guard_of(pid: int) -> ChainGuard:
    return ChainGuard()
