"""Who acts on the centre: the name recorded in its histories (withdrawals, requests and their decisions)."""

from __future__ import annotations

import getpass


def acting_user(by: str | None) -> str:
    """Who acts: ``--by``, else the OS user."""
    return by or getpass.getuser()
