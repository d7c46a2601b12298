"""A test executable in MAJA's place (``maja --tile T --acquired ISO --output OUT --chain-version V``): it writes
a real MUSCATE L2A product of that chain version for the acquisition, two minutes after it (as the run
scenario's L2As), so that a replayed L2A shares its unit and its date with the product it replaces."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from products import write_muscate_l2a  # noqa: E402
from run_scenario import L2A_DELAY  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="maja")
    parser.add_argument("--tile", required=True)
    parser.add_argument("--acquired", type=datetime.fromisoformat, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--chain-version", required=True)
    args = parser.parse_args(argv)
    product = write_muscate_l2a(args.output, tile=args.tile, when=args.acquired + L2A_DELAY,
                                version=args.chain_version.replace(".", "-"))  # fmt: skip
    print(f"L2A {product.name}")
    return 0
