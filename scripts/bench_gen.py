"""Benchmark of the generator: median wall time of a cold `gen render` and `gen validate` (a new interpreter
each time), of rendering in process, and of refusing each hostile profile, beside the interpreter's own
start-up as the reference. Prints figures and ratios only; it asserts nothing (these machines are shared
and noisy). Goals: a cold render of one profile under 0.5 s, a cold validate of one file under 1.5 s, each
bomb refused in under a second.
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
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def median_seconds(command: list[str], cwd: Path = REPO) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, cwd=cwd)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def in_process_seconds() -> float:
    from generator.render import render_profile
    from generator.stack_dir import StackDir

    stack = StackDir(REPO)
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for name in stack.profile_names():
            render_profile(stack, name)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


_MEASURE = (
    "import resource, subprocess, sys, time; start = time.perf_counter(); "
    "subprocess.run(sys.argv[1:], capture_output=True); "
    "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def bomb_figures(directory: Path) -> list[tuple[str, float, float]]:
    """(bomb, seconds, peak MiB of that one `gen render`) for each hostile profile of the test suite."""
    from gen.hostile_profiles import BOMBS

    figures = []
    for name, text in BOMBS.items():
        path = directory / f"{name.replace(' ', '-')}.yaml"
        path.write_text(text)
        command = [str(BIN / "gen"), "render", "--profile", str(path), "--out", str(directory / "out")]
        measured = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True)
        seconds, kib = measured.stdout.split()
        figures.append((name, float(seconds), int(kib) / 1024))
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        python = median_seconds([sys.executable, "-c", "pass"])
        one = median_seconds([str(BIN / "gen"), "render", "--profile", "redundant", "--out", out])
        every = median_seconds([str(BIN / "gen"), "render", "--all"])
        check = median_seconds([str(BIN / "gen"), "validate", "generated/redundant/compose.yaml"])
        bombs = bomb_figures(Path(out))
    inside = in_process_seconds()
    print(f"median of {RUNS} runs")
    print(f"  python start-up (reference)          {python * 1000:8.1f} ms")
    print(f"  cold gen render --profile redundant  {one * 1000:8.1f} ms  ({one / python:.1f}x start-up)")
    print("    goal: under 500 ms")
    print(f"  cold gen render --all                {every * 1000:8.1f} ms  ({every / python:.1f}x start-up)")
    print(f"  cold gen validate (one file)         {check * 1000:8.1f} ms  ({check / python:.1f}x start-up)")
    print("    goal: under 1500 ms")
    print(f"  in-process render of all profiles    {inside * 1000:8.1f} ms")
    print("hostile profiles, one run each: time to the one-line error, peak RSS of that gen")
    for name, seconds, mib in bombs:
        print(f"  {name:<34} {seconds * 1000:8.1f} ms  peak {mib:6.1f} MiB")


if __name__ == "__main__":
    main()
