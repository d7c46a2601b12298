"""How the CLI shows results: Rich tables for people, JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)
if not console.is_terminal:
    console.width = 160  # logs and pipes: Rich would fold tables at 80 columns


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
Report = TypeVar("Report", bound=BaseModel)


def print_json(model: BaseModel | Sequence[BaseModel]) -> None:
    if isinstance(model, BaseModel):
        data: Any = model.model_dump(mode="json")
    else:
        data = [m.model_dump(mode="json") for m in model]
    print(json.dumps(data, indent=2, ensure_ascii=False))


def show(report: Report, output: OutputFormat, render: Callable[[Report], None]) -> None:
    """``report`` as JSON for machines, or drawn by ``render`` for people."""
    if output is OutputFormat.JSON:
        print_json(report)
    else:
        render(report)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=title, title_justify="left", show_edge=False)
    for number, column in enumerate(columns):
        numeric = bool(rows) and all(isinstance(row[number], int | float) for row in rows)
        right = numeric or column in {"items", "port", "pid"}
        out.add_column(column, justify="right" if right else "left", overflow="fold")
    for row in rows:
        out.add_row(*("" if value is None else str(value) for value in row))
    return out
