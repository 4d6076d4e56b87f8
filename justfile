# Recipes. Run them through ./dev (it installs .venv and just itself), e.g. `./dev up standalone`.
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := justfile_directory() / ".venv/bin"

# List the recipes.
default:
    @{{bin}}/just --list

# Render a profile and start its stack (a missing .env is created with fresh random keys).
up profile="standalone":
    {{bin}}/gen render --profile {{profile}}
    {{bin}}/python scripts/ensure-env.py generated/{{profile}}
    docker compose --project-directory generated/{{profile}} -f generated/{{profile}}/compose.yaml up -d --build --wait

# Stop a stack started with `up`: the supervisor first (so it starts no replacement), then the engines it
# made, then the rest. The supervisor's database volume is kept. (Restarting only the supervisor keeps the
# engines: it adopts them.)
down profile="standalone":
    #!/usr/bin/env bash
    set -euo pipefail
    compose=(docker compose --project-directory generated/{{profile}} -f generated/{{profile}}/compose.yaml)
    project=$("${compose[@]}" config --format json | {{bin}}/python -c 'import json, sys; print(json.load(sys.stdin)["name"])')
    "${compose[@]}" stop supervisor
    engines=$(docker ps -aq --filter "label=com.docker.compose.project=$project" --filter label=acestream-orchestrator.managed=true)
    if [ -n "$engines" ]; then docker rm -f $engines >/dev/null; fi
    "${compose[@]}" down

# Everything CI runs: lint, types, drift check of generated/, then the whole pytest suite.
test: lint typecheck gen-check pytest

lint:
    {{bin}}/ruff check .
    {{bin}}/ruff format --check .

typecheck:
    {{bin}}/mypy generator supervisor

# Re-render every profile in memory; fail on any drift in generated/ or any invalid compose file.
gen-check:
    {{bin}}/gen check

# The whole suite. As root, tests marked docker run in a private daemon the suite starts (scripts/test-dockerd)
# and that is stopped again whatever happens; a daemon already running (`bench-up`) is left running.
pytest *args:
    #!/usr/bin/env bash
    set -euo pipefail
    if scripts/test-dockerd status >/dev/null 2>&1; then keep=1; else keep=0; fi
    trap '[ "$keep" = 1 ] || scripts/test-dockerd stop >/dev/null 2>&1 || true' EXIT
    {{bin}}/pytest {{args}}

# Render every shipped profile into generated/.
render:
    {{bin}}/gen render --all

# Median time of a cold `gen render` against the interpreter's own start-up.
bench-gen:
    {{bin}}/python scripts/bench_gen.py

# Start the private test daemon and build every bench image; then `export DOCKER_HOST=$(scripts/test-dockerd host)`.
bench-up:
    scripts/test-dockerd start
    DOCKER_HOST=$(scripts/test-dockerd host) scripts/build-images

# Stop the private test daemon (its containers stop with it; images stay cached in its data-root).
bench-down:
    scripts/test-dockerd stop

# Provisioning via the supervisor vs raw Docker (20 engines), and status/engines latency with 500 in state.
bench-provision:
    {{bin}}/python scripts/bench_provision.py
