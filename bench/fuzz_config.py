"""Many generated hostile configs through the loader: prints how many were accepted, rejected
with located messages, and how many ended in a traceback, a hang or a message without its
line (each of those is a defect; the first few are printed in full).

    .venv/bin/python bench/fuzz_config.py [--examples 2000] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.config_fuzz import Tally, prepare, run_fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="pitwatch-fuzz-") as workdir:
        directory = prepare(Path(workdir))

        started = time.monotonic()
        run_fuzz(directory, args.examples, tally, args.seed)
        elapsed = time.monotonic() - started
    counts = tally.counts
    total = sum(counts.values())
    print(
        f"configs: {total}  accepted: {counts['accepted']}  rejected: {counts['rejected']}  "
        f"tracebacks: {counts['traceback']}  timeouts: {counts['timeout']}  "
        f"unlocated: {counts['unlocated']}  ({elapsed:.1f}s)"
    )
    for defect in tally.defects:
        print(defect)
    return 1 if tally.defects else 0


if __name__ == "__main__":
    sys.exit(main())
