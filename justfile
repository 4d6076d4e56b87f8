# Recipes. Run them through ./dev (it installs .venv and just itself), e.g. `./dev up standalone`.
# Every recipe's description is its [doc] line, the one line `./dev` lists (a comment above a recipe would
# show only its last line); longer notes are comments above the [doc] line.
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := justfile_directory() / ".venv/bin"

[doc("List the recipes.")]
default:
    @{{bin}}/just --list

# `gen up`: render, create .env with fresh random keys when missing, build the supervisor image (the
# classic builder where BuildKit cannot), start with `docker compose` or the Compose v2 binary ./dev
# installed, and wait for every service to be healthy. DIR is a stack directory (default: this clone).
[doc("Render PROFILE of stack directory DIR and start its stack (a missing .env gets fresh random keys).")]
up profile="standalone" dir=".":
    {{bin}}/gen -C {{dir}} up {{profile}}

# Restarting only the supervisor keeps the engines: it adopts them.
[doc("Stop PROFILE's stack: the supervisor first, then the engines it made, then the rest (data kept).")]
down profile="standalone" dir=".":
    {{bin}}/gen -C {{dir}} down {{profile}}

[doc("Everything CI runs: lint, types, drift check of generated/, then the whole pytest suite.")]
test: lint typecheck gen-check pytest

[doc("ruff check and ruff format --check.")]
lint:
    {{bin}}/ruff check .
    {{bin}}/ruff format --check .

[doc("mypy, strict on generator/ and supervisor/.")]
typecheck:
    {{bin}}/mypy generator supervisor

[doc("Re-render every profile in memory; fail on any drift in generated/ or any invalid compose file.")]
gen-check:
    {{bin}}/gen check

# As root, tests marked docker run in a private daemon the suite starts (scripts/test-dockerd), stopped
# again whatever happens; a daemon already running (`bench-up`) is left running. As root, Debian's
# chromium is installed first when missing (the dashboard's browser tests drive it).
[doc("The whole pytest suite, the real-Docker bench included (as root).")]
pytest *args:
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/ensure-chromium
    if scripts/test-dockerd status >/dev/null 2>&1; then keep=1; else keep=0; fi
    trap '[ "$keep" = 1 ] || scripts/test-dockerd stop >/dev/null 2>&1 || true' EXIT
    {{bin}}/pytest {{args}}

[doc("Render every shipped profile into generated/.")]
render:
    {{bin}}/gen render --all

[doc("Cold gen render and gen validate times against the interpreter's start-up, and each bomb refused.")]
bench-gen:
    {{bin}}/python scripts/bench_gen.py

# Then `export DOCKER_HOST=$(scripts/test-dockerd host)` to use it from your shell.
[doc("Start the private test daemon and build every bench image.")]
bench-up:
    scripts/test-dockerd start
    DOCKER_HOST=$(scripts/test-dockerd host) scripts/build-images

[doc("Stop the private test daemon (its containers stop with it; images stay cached in its data-root).")]
bench-down:
    scripts/test-dockerd stop

# `just bench-provision --latency-only`: only the answers from memory (no Docker), with the req/s of each
# read route as a share of /health's, by plain clients and by clients that ask for gzip and inflate it;
# `--port N` for that supervisor's port.
[doc("Provisioning via the supervisor vs raw Docker (20 engines), and status/engines latency with 500 in state.")]
bench-provision *args:
    {{bin}}/python scripts/bench_provision.py {{args}}

# On the real-Docker bench (as root): ten interleaved rounds of each, medians and their ratio (goal <= 0.6).
[doc("A cold provision that starts a standby engine, next to Docker's raw create+start.")]
bench-standby:
    {{bin}}/python scripts/bench_standby.py

# On the running bench daemon, under its lock (`flock /tmp/ace-docker.lock just bench-cache`): Docker's
# disk-use listing over 10 engines' caches, the figure timings.cache_check_interval_s is chosen from.
[doc("What Docker's size query costs over 10 engines with big and with many-file caches.")]
bench-cache:
    {{bin}}/python scripts/bench_cache.py

# On the real-Docker bench (as root): warm and cold acquires next to GET /engines and a raw engine start,
# and one stream-check pass over 200 streams next to one stat_url call.
[doc("POST /engines/acquire warm and cold, and the stats collection of 200 streams, next to their baselines.")]
bench-acquire *args:
    {{bin}}/python scripts/bench_acquire.py {{args}}

# Runs the fault tests of the real-Docker bench (as root; the private daemon is started and stopped as by
# `pytest`) and prints how fast each fault healed, next to the intervals that bound it.
[doc("Each fault on the real-Docker bench: seconds until /engines withdrew the bad engine and until convergence.")]
bench-faults:
    #!/usr/bin/env bash
    set -euo pipefail
    if scripts/test-dockerd status >/dev/null 2>&1; then keep=1; else keep=0; fi
    trap '[ "$keep" = 1 ] || scripts/test-dockerd stop >/dev/null 2>&1 || true' EXIT
    {{bin}}/python scripts/bench_faults.py

[doc("/orchestrator/status at a fixed 200 req/s with 500 probed engines and every loop at 1 s; cost of a health pass.")]
bench-api *args:
    {{bin}}/python scripts/bench_api_load.py {{args}}

# mutmut copies the project into mutants/ and runs, for each mutant of supervisor/core/ and
# supervisor/reconciler.py, the fast tests that reach its function (`-m "not docker" tests/supervisor`,
# see [tool.mutmut] in pyproject.toml). It starts afresh every time (a survivor cached from an earlier run
# would outlive the test written to kill it), at the lowest priority; it takes a while, so CI leaves it out.
# `.venv/bin/mutmut results` lists the survivors afterwards, `.venv/bin/mutmut show NAME` shows one.
[doc("Mutation score of supervisor/core and the reconciler against the fast tests (slow; not in `test`).")]
mutate:
    rm -rf mutants
    nice -n 19 {{bin}}/mutmut run
    {{bin}}/python scripts/mutation_score.py
