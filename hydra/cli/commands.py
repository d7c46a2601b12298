"""``hesp``'s commands, each imported when it runs: a command pays for its own modules only.

Importing every command's module would import the whole library (the readers and GDAL, pypgstac's loader and
boto3, Dask) before any command starts: ``hesp gaps`` or ``hesp status`` would spend more time starting than
answering. The root group holds a mapping that imports a command's module the first time the command is asked
for: to run it, or to list it in ``hesp --help``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

import typer
from typer.core import TyperCommand, TyperGroup

Command = TyperCommand | TyperGroup
# name: "module:attribute", a command function or a Typer of subcommands; in the order of `hesp --help`
COMMANDS = {
    "ingest": "hydra.cli.ingest:ingest",
    "harvest": "hydra.cli.harvest:harvest",
    "gaps": "hydra.cli.gaps:gaps",
    "run": "hydra.cli.run:run",
    "watch": "hydra.cli.watch:watch",
    "status": "hydra.cli.status:status",
    "doctor": "hydra.cli.doctor:doctor",
    "serve": "hydra.cli.serve:serve",
    "demo": "hydra.cli.demo:demo",
    "withdraw": "hydra.cli.lifecycle:withdraw",
    "restore": "hydra.cli.lifecycle:restore",
    "withdrawals": "hydra.cli.lifecycle:withdrawals",
    "prune": "hydra.cli.lifecycle:prune",
    "db": "hydra.cli.db:app",
    "collections": "hydra.cli.collections:app",
    "tiles": "hydra.cli.tiles:app",
    "request": "hydra.cli.request:app",
    "campaign": "hydra.cli.campaign:app",
    "plan": "hydra.cli.plan:app",
    "storage": "hydra.cli.storage:app",
}


class LazyCommands(Mapping[str, Command]):
    """The commands by name; a command is made (its module imported) on first access."""

    def __init__(self, targets: dict[str, str]) -> None:
        self._targets = targets
        self._made: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._made:
            self._made[name] = _command(name, self._targets[name])
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


class LazyGroup(TyperGroup):
    """Typer's group, its commands in a ``LazyCommands``."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.commands = LazyCommands(COMMANDS)  # type: ignore[assignment]


def _command(name: str, target: str) -> Command:
    """The click command Typer would have made of ``target`` registered under ``name``."""
    module, attribute = target.split(":")
    found = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    if isinstance(found, typer.Typer):
        holder.add_typer(found, name=name)
    else:
        holder.command(name=name)(found)
    made: Command = typer.main.get_group(holder).commands[name]  # type: ignore[assignment]
    return made
