"""The reference chains under the names of the real binaries, for HESP_CHAIN_PATH.

``install(folder)`` writes one small executable per chain (``maja``, ``let_it_snow_fsc.py``, ``S1Processor``,
``surfwater``, ``WASP``) that runs the reference module with this Python. Put the folder on HESP_CHAIN_PATH
and ``hesp run`` runs the reference chains where the real ones are not installed; remove it and the real
binaries on PATH are used, with the same command lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

COMMANDS = {
    "maja": "reference_chains.maja",
    "let_it_snow_fsc.py": "reference_chains.lis",
    "S1Processor": "reference_chains.s1tiling",
    "surfwater": "reference_chains.surfwater",
    "WASP": "reference_chains.wasp",
}


def install(folder: Path) -> Path:
    """Write the launchers into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for command, module in COMMANDS.items():
        path = folder / command
        path.write_text(
            f"#!{sys.executable}\n"
            f'"""Reference chain standing in for {command}: {module}."""\n'
            "import sys\n"
            f"from {module} import main\n"
            "sys.exit(main())\n"
        )
        path.chmod(0o755)
    return folder
