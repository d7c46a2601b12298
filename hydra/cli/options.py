"""Option parsing shared by the commands."""

from __future__ import annotations


def comma_list(values: list[str] | None) -> list[str] | None:
    """Typer callback: ``--tile 31TCJ,31TDJ --tile 31TCH`` is the list of the three."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
