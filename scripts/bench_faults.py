"""`just bench-faults`: every fault test of the real-Docker bench, then one table of how fast each healed.

For each fault: seconds from the fault until `/engines` stopped offering the bad engine ("-" where no
bad engine was ever offered), and until full convergence (the desired ready engines back, or
provisioning resumed), next to the configured intervals that bound them. The tests assert convergence;
the times are figures to read, not thresholds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/e2e/test_faults_docker.py",
    "tests/e2e/test_vpn_faults_docker.py",
    "tests/e2e/test_docker_outage_docker.py",
    "tests/e2e/test_stale_streams_docker.py",
    "tests/e2e/test_supervisor_docker.py::test_a_foreign_listener_on_the_lowest_port_is_skipped_not_fatal",
]


def main() -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-m", "docker", "-p", "no:cacheprovider", *TESTS]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    rows = [line.split("|")[1:] for line in run.stdout.splitlines() if line.startswith("FAULT|")]
    summary = [line for line in run.stdout.splitlines() if " passed" in line or " failed" in line]
    width = max((len(row[0]) for row in rows), default=10)
    print(f"{'fault':<{width}}  {'withdrawn s':>11}  {'converged s':>11}  bounded by")
    for fault, withdrawn, converged, intervals in rows:
        print(f"{fault:<{width}}  {withdrawn:>11}  {converged:>11}  {intervals}")
    print(summary[-1] if summary else run.stdout[-2000:])
    if run.returncode != 0:
        print(run.stdout[-6000:], run.stderr[-2000:], sep="\n")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
