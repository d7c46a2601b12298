"""``hesp doctor --jobqueue``: what the batch workers of ``hesp run --jobqueue`` need, checked from the submitting
node: the batch system's commands and queue, a database URL the nodes can reach, and storage they share.

Each check returns its one line, or raises ``BatchProblem``; the nodes are those of the queue (Slurm's ``sinfo``;
PBS's are not listed, so they count as other machines).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from functools import cached_property
from ipaddress import ip_address
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from hygor.catalog import Catalog
from hygor.db import redact
from hygor.errors import HespError
from hymotep.run_request import JobQueueSpec
from hymotep.settings import ProductionSettings

COMMANDS = {"slurm": ("sbatch", "squeue", "scancel", "sinfo"), "pbs": ("qsub", "qstat", "qdel")}
# Filesystems that other nodes can mount: a storage root elsewhere is this machine's alone.
SHARED_FILESYSTEMS = {"nfs", "nfs4", "lustre", "gpfs", "beegfs", "cephfs", "glusterfs", "fuse.glusterfs", "cifs",
                      "smb3", "fuse.sshfs", "panfs", "wekafs", "fuse.juicefs"}  # fmt: skip
TIMEOUT_S = 10


class BatchProblem(HespError):
    """What keeps the batch workers from running, as one line."""


@dataclass
class BatchSite:
    """The batch system of a run, seen from the submitting node."""

    spec: JobQueueSpec
    settings: ProductionSettings

    @cached_property
    def worker_url(self) -> str:
        """The database URL the workers get (the embedded database is not started)."""
        url = self.spec.database_url or Catalog(self.settings).worker_url(start=False)
        if not url:
            raise BatchProblem("skipped: no database")
        return url

    def commands(self) -> str:
        missing = [tool for tool in COMMANDS[self.spec.system] if shutil.which(tool) is None]
        if missing:
            system = self.spec.system
            raise BatchProblem(f"{', '.join(missing)} not found on PATH: this node cannot submit {system} jobs")
        return f"{', '.join(COMMANDS[self.spec.system])} found"

    def queue(self) -> str:
        if self.spec.system == "pbs":
            _output(["qstat", "-Q", *([self.spec.queue] if self.spec.queue else [])])
            return f"queue {self.spec.queue or '(default)'} known to PBS"
        state = _output(["sinfo", "-h", "-p", self.partition, "-o", "%a"]).split()
        if not state:
            raise BatchProblem(f"partition {self.partition} not found (sinfo)")
        if "up" not in state:
            raise BatchProblem(f"partition {self.partition} is {state[0]}")
        return f"partition {self.partition} up, nodes {', '.join(self.nodes)}"

    def database(self) -> str:
        """The workers' URL answers from here, and is not loopback when the workers may run elsewhere."""
        host = str(conninfo_to_dict(self.worker_url).get("host") or "")
        if _loopback(host) and not self.only_this_host:
            raise BatchProblem(f"the workers would connect to {redact(self.worker_url)}, this machine's loopback: "
                               "set HESP_DB_LISTEN and HESP_DB_ALLOW, or database_url in the site file")  # fmt: skip
        try:
            with psycopg.connect(self.worker_url, connect_timeout=5):
                pass
        except psycopg.Error as exc:
            raise BatchProblem(f"the workers' URL {redact(self.worker_url)} does not answer: {exc}") from None
        return f"workers connect to {redact(self.worker_url)}"

    def storage(self) -> str:
        """The storage root and work folder are object storage, or on a filesystem the nodes can share."""
        if self.settings.object_storage:
            where = [f"products in {self.settings.storage_location}"]
            folders = [self.settings.log_root, self.settings.work_root]
        else:
            where, folders = [], [self.settings.storage_root, self.settings.work_root]
        local: list[str] = []
        for folder in dict.fromkeys(folders):
            kind = filesystem_type(folder)
            (where if kind in SHARED_FILESYSTEMS else local).append(f"{folder} ({kind})")
        if local and not self.only_this_host:
            raise BatchProblem(f"{', '.join(local)} on this machine's own disk: the nodes need the same path "
                               "(HESP_STORAGE, HESP_WORK_DIR on a shared filesystem)")  # fmt: skip
        note = " (one-node cluster: this machine's disk is shared)" if local else ""
        return ", ".join(where + local) + note

    @cached_property
    def partition(self) -> str:
        if self.spec.queue:
            return self.spec.queue
        default = [p for p in _output(["sinfo", "-h", "-o", "%P"]).split() if p.endswith("*")]
        if not default:
            raise BatchProblem("no default partition: give --queue or queue in the site file")
        return default[0].rstrip("*")

    @cached_property
    def nodes(self) -> tuple[str, ...]:
        if self.spec.system == "pbs":
            return ()
        return tuple(_output(["sinfo", "-h", "-N", "-p", self.partition, "-o", "%N"]).split())

    @property
    def only_this_host(self) -> bool:
        """Whether every worker runs on this machine (a one-node cluster), where loopback and local disks do."""
        names = {socket.gethostname(), socket.gethostname().split(".")[0], socket.getfqdn()}
        return bool(self.nodes) and set(self.nodes) <= names


def filesystem_type(path: Path) -> str:
    """The type of the filesystem that holds ``path`` (its nearest existing folder), from /proc/mounts."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        point = fields[1].replace("\\040", " ")
        if path.is_relative_to(point) and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def _loopback(host: str) -> bool:
    if not host or host.startswith("/") or host == "localhost":
        return True  # a Unix socket or this machine's name for itself
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BatchProblem(f"{command[0]}: {exc}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise BatchProblem(f"{' '.join(command)}: {lines[-1] if lines else f'exit code {done.returncode}'}")
    return done.stdout
