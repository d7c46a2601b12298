"""CPU time spent by processes of this machine, whichever spends it: on a shared machine, wall-clock times follow
the other loads, processor seconds much less."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import psycopg


def _processes() -> dict[int, tuple[int, float, float]]:
    """(parent, own CPU seconds, CPU seconds of its reaped children) of every process, from /proc/<pid>/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        utime, stime, cutime, cstime = (int(value) / tick for value in fields[11:15])
        found[int(entry.name)] = (int(fields[1]), utime + stime, cutime + cstime)
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _tree(processes: dict[int, tuple[int, float, float]], root: int) -> set[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (parent, _, _) in processes.items():
        children[parent].append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in processes and pid not in tree:
            tree.add(pid)
            todo.extend(children[pid])
    return tree


def postmaster_pid(url: str) -> int:
    """The PostgreSQL server's main process (the parent of a backend), on this machine."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return _processes()[int(row[0])][0]


class CpuMeter:
    """CPU seconds spent between ``start`` and ``stop``: by this process (the driver), by its other processes alive
    or reaped (workers, chains, loaders) and by the PostgreSQL server of ``url`` (its processes, ended backends
    counted by the server)."""

    def __init__(self, url: str, slurm: bool = False) -> None:
        self.postmaster = postmaster_pid(url)
        self.slurm = slurm
        self._start: dict[str, float] = {}

    def sample(self) -> dict[str, float]:
        processes = _processes()
        server = _tree(processes, self.postmaster)
        mine = _tree(processes, os.getpid()) - server
        me = processes[os.getpid()]
        found = {
            "driver": me[1],
            "workers": me[2] + sum(processes[p][1] + processes[p][2] for p in mine - {os.getpid()}),
            "PostgreSQL": sum(processes[p][1] + (processes[p][2] if p == self.postmaster else 0) for p in server),
        }
        if self.slurm:  # the batch jobs' processes, under slurmd's step daemons, alive when sampled
            steps = [pid for pid in processes if _command(pid) == "slurmstepd"]
            jobs = set().union(*(_tree(processes, step) for step in steps))
            found["Slurm jobs"] = sum(processes[p][1] + processes[p][2] for p in jobs)
        return found

    def start(self) -> None:
        self._start = self.sample()

    def stop(self) -> dict[str, float]:
        return {whose: seconds - self._start.get(whose, 0.0) for whose, seconds in self.sample().items()}
