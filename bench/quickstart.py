"""Benchmark the quickstart: `harness --help` start-up, the sentiment suite on the local model, its cached re-run.

    python bench/quickstart.py [--suite suites/sentiment.yaml]

Uses a fresh response cache (the assembled local model is reused if present) and reports wall
time and peak RSS of each command, measured on the child process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB, and exit code of one command run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return wall, max(peak, before) / 1024, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/sentiment.yaml")
    args = parser.parse_args()
    harness = shutil.which("harness") or sys.exit("install first: pip install -e '.[local]'")

    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        models = Path(os.environ.get("HARNESS_CACHE_DIR", Path.home() / ".cache" / "harness")) / "models"
        if models.is_dir():
            shutil.copytree(models, cache / "models")
        env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
        help_times = [measure([harness, "--help"], env)[0] for _ in range(5)]
        run_wall, run_rss, _ = measure([harness, "run", args.suite, "--out", f"{scratch}/run1"], env)
        cached_wall, _, _ = measure([harness, "run", args.suite, "--out", f"{scratch}/run2"], env)

    print(f"{'measure':<34}{'wall s':>10}{'peak RSS MB':>14}")
    print(f"{'harness --help (median of 5)':<34}{statistics.median(help_times):>10.2f}{'':>14}")
    print(f"{'run ' + args.suite + ' (no cache)':<34}{run_wall:>10.1f}{run_rss:>14.0f}")
    print(f"{'cached re-run':<34}{cached_wall:>10.2f}{'':>14}")


if __name__ == "__main__":
    main()
