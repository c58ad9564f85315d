#!/usr/bin/env python3
"""Run every benchmark script `bench/bench_*.py`; with `--smoke`, each at a tiny size, just to prove it runs.

CI runs `make bench-smoke` so that no benchmark rots unnoticed: each script must accept `--smoke` ("tiny
size, finish in seconds") and exit non-zero on failure. Full runs (`make bench` / this script without
--smoke) produce the figures of docs/benchmarks.md. Scripts run one at a time: they measure the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SMOKE_TIMEOUT = int(os.environ.get("BENCH_SMOKE_TIMEOUT", "300"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size: prove every script still runs")
    parser.add_argument("names", nargs="*", help="only these scripts (e.g. bench_search.py)")
    options = parser.parse_args()

    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if options.names:
        scripts = [script for script in scripts if script.name in options.names]
    if not scripts:
        print("bench: no benchmark script (bench/bench_*.py) yet")
        return 0
    failures = []
    for script in scripts:
        argv = [sys.executable, str(script), *(["--smoke"] if options.smoke else [])]
        print(f"bench: {script.name} {'--smoke' if options.smoke else ''}".rstrip(), flush=True)
        started = time.monotonic()
        try:
            result = subprocess.run(
                argv, cwd=ROOT, timeout=SMOKE_TIMEOUT if options.smoke else None, check=False
            )
            code: int | str = result.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        elapsed = time.monotonic() - started
        status = "ok" if code == 0 else f"FAILED ({code})"
        print(f"bench: {script.name}: {status} in {elapsed:.1f} s", flush=True)
        if code != 0:
            failures.append(script.name)
    if failures:
        print(f"bench: {len(failures)} of {len(scripts)} failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    print(f"bench: {len(scripts)} script(s) ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
