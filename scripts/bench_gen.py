"""Benchmark of the generator: median wall time of a cold `gen render` (a new interpreter each time) and
of rendering in process, beside the interpreter's own start-up as the reference. Prints figures and
ratios only; it asserts nothing (these machines are shared and noisy). Goal: a cold render of one profile
under 0.5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 9
BIN = Path(sys.executable).parent


def median_seconds(command: list[str]) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def in_process_seconds() -> float:
    from generator.render import render_profile, shipped_profiles

    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for name in shipped_profiles():
            render_profile(name)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        python = median_seconds([sys.executable, "-c", "pass"])
        one = median_seconds([str(BIN / "gen"), "render", "--profile", "redundant", "--out", out])
        every = median_seconds([str(BIN / "gen"), "render", "--all"])
    inside = in_process_seconds()
    print(f"median of {RUNS} runs")
    print(f"  python start-up (reference)        {python * 1000:8.1f} ms")
    print(f"  cold gen render --profile redundant{one * 1000:8.1f} ms  ({one / python:.1f}x start-up)")
    print("    goal: under 500 ms")
    print(f"  cold gen render --all              {every * 1000:8.1f} ms  ({every / python:.1f}x start-up)")
    print(f"  in-process render of all profiles  {inside * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
