"""A test executable in Surfwater's place (``surfwater --input L2A --output OUT --chain-version V``): it writes
a real Surfwater product for the L2A it is given, and does what the test asks through the environment:

- FAKE_CHAIN_RECORD: a file to which each run appends the name of its input (to count runs per unit);
- FAKE_CHAIN_SLEEP: seconds to sleep first (to be killed mid-job);
- FAKE_CHAIN_SLEEP_FILE: a file holding seconds to sleep first, when it exists (a slow job chosen while running);
- FAKE_CHAIN_FAIL: exit with this code after writing "fake failure" on stderr;
- FAKE_CHAIN_LINK_OUT: a file that the product's quicklook links to instead of being one (a hostile output);
- FAKE_CHAIN_PRINT_ENV: print the whole environment (as a careless chain does);
- FAKE_CHAIN_PIDS: a file to which each run appends its process id (to see whether it outlives its worker).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from products import write_surfwater  # noqa: E402

from hygor.readers.outputs import MUSCATE_ID  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="surfwater")
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--chain-version", required=True)
    args = parser.parse_args(argv)
    if record := os.environ.get("FAKE_CHAIN_RECORD"):
        with open(record, "a") as out:
            out.write(f"{args.input.name}\n")
    if pids := os.environ.get("FAKE_CHAIN_PIDS"):
        with open(pids, "a") as out:
            out.write(f"{os.getpid()}\n")
    if os.environ.get("FAKE_CHAIN_PRINT_ENV"):
        print("\n".join(f"{key}={value}" for key, value in os.environ.items()))
    time.sleep(float(os.environ.get("FAKE_CHAIN_SLEEP", "0")))
    slow = Path(os.environ.get("FAKE_CHAIN_SLEEP_FILE", "/nonexistent"))
    if slow.is_file():
        time.sleep(float(slow.read_text()))
    if code := int(os.environ.get("FAKE_CHAIN_FAIL", "0")):
        print("fake failure", file=sys.stderr)
        return code
    name = MUSCATE_ID.match(args.input.name)
    if name is None:
        print(f"not an L2A: {args.input}", file=sys.stderr)
        return 1
    when = datetime.strptime(name["stamp"], "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC)
    print(f"water of {args.input.name}")
    product = write_surfwater(args.output, tile=name["tile"], when=when, platform="S2A",
                              version=args.chain_version.replace(".", "-"), source=args.input.name)  # fmt: skip
    if target := os.environ.get("FAKE_CHAIN_LINK_OUT"):
        quicklook = product / f"{product.name}_QKL.png"
        quicklook.unlink()
        quicklook.symlink_to(target)
    return 0


def install(folder: Path, name: str = "surfwater", module: str = "fake_chain") -> Path:
    """An executable ``name`` in ``folder`` that runs ``main`` of the tests' ``module`` with this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                    f"from {module} import main\nsys.exit(main())\n")  # fmt: skip
    path.chmod(0o755)
    return folder
