"""The mutation score of the last `mutmut run` (`just mutate`): a summary line, then survivors per module.

A mutant counts as killed when a test failed on it (or it ran past its time limit, mutmut's "timeout").
Everything else counts against the score: survived (every test passed), no tests (no fast test reaches
that function) and suspicious. Reads mutmut's per-file results in mutants/ (mutmut's own status names).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

KILLED = {"killed", "timeout"}


def main() -> int:
    metas = sorted(Path("mutants").glob("**/*.py.meta"))
    if not metas:
        print("no mutmut results in mutants/: run `just mutate`", file=sys.stderr)
        return 1
    total: Counter[str] = Counter()
    per_module: dict[str, Counter[str]] = {}
    for meta in metas:
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not exit_codes:
            continue
        module = str(meta.relative_to("mutants"))[: -len(".meta")]
        counts = Counter(status_by_exit_code[code] for code in exit_codes.values())
        per_module[module] = counts
        total += counts
    tested = sum(total.values()) - total["skipped"]
    killed = sum(total[status] for status in KILLED)
    share = 100.0 * killed / tested if tested else 0.0
    others = ", ".join(f"{n} {status}" for status, n in sorted(total.items()) if status not in KILLED)
    print(f"mutation score: {killed}/{tested} mutants killed ({share:.1f} %); {others or 'none left'}")
    for module, counts in per_module.items():
        left = {status: n for status, n in counts.items() if status not in KILLED}
        if left:
            what = ", ".join(f"{n} {status}" for status, n in sorted(left.items()))
            print(f"  {module}: {what} (of {sum(counts.values())})")
    if total["not checked"]:
        print("some mutants were not checked: the run was interrupted", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
