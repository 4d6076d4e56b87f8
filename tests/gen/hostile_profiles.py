"""Profiles an attacker or a careless user writes, each with what `gen render` must say about it.

Every case is refused with one clear message (no traceback, nothing written); the fragments are what the
message must contain: the field, and the fix.
"""

from __future__ import annotations

import json


def _single(**vpn: object) -> str:
    """A valid single-VPN profile with the VPN's fields replaced; values written as JSON (valid YAML)."""
    fields = {"name": "gluetun", **vpn}
    return f"stack: t\nmode: single\nports:\n  engine_http: 11000-11019\nvpns:\n  - {json.dumps(fields)}\n"


def _standalone(extra: str) -> str:
    return f"stack: t\nmode: standalone\nports:\n  engine_http: 11000-11019\n{extra}"


INJECTED = "qmcgaw/gluetun:v3.41.1\n    privileged: true\n    volumes: ['/:/host']\n    pid: host"

_LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n"
    if i
    else "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(9)
)
_DICT_BOMB = "".join(
    f"  d{i}: &d{i} {{a: *d{i - 1}, b: *d{i - 1}, c: *d{i - 1}, d: *d{i - 1}}}\n"
    if i
    else "  d0: &d0 {a: x, b: x}\n"
    for i in range(14)
)

# name -> profile text. Loaded by `gen render --profile FILE`, each must fail fast with bounded memory.
BOMBS: dict[str, str] = {
    "billion laughs as mode": f"{_LAUGHS}stack: t\nmode: *l8\nports: {{engine_http: 11000-11019}}\n",
    "dict bomb in an extends child": f"extends: base.yaml\nengine:\n{_DICT_BOMB}",
    "5000-deep flow list": "stack: " + "[" * 5000 + "]" * 5000 + "\nmode: single\n",
    "5000-deep flow map": "stack: " + "{a: " * 5000 + "}" * 5000 + "\n",
    "merge-key bomb": "".join(
        f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}, *m{i - 1}, *m{i - 1}], k{i}: 1}}\n"
        if i
        else "m0: &m0 {k: 1}\n"
        for i in range(12)
    ),
    "a megabyte of one scalar": "stack: " + "a" * 1_100_000 + "\n",
}

# name -> (profile text, fragments the one-line error must contain)
HOSTILE: dict[str, tuple[str, list[str]]] = {
    # --- YAML structure smuggled in through a value ---
    "image carrying YAML": (_single(image=INJECTED), ["vpns[0].image", "is not a Docker image reference"]),
    "image with a trailing newline": (_single(image="qmcgaw/gluetun:v3.41.1\n"), ["vpns[0].image"]),
    "image with an interpolation": (_single(image="qmcgaw/gluetun:${TAG}"), ["vpns[0].image"]),
    "image with a space": (_single(image="qmcgaw/gluetun :v3"), ["vpns[0].image"]),
    "image in upper case": (_single(image="QMCGAW/Gluetun:v3.41.1"), ["vpns[0].image"]),
    "image tag too long": (_single(image="qmcgaw/gluetun:" + "v" * 129), ["vpns[0].image"]),
    "image unpinned": (_single(image="qmcgaw/gluetun"), ["vpns[0].image", "is not pinned"]),
    "image latest": (_single(image="qmcgaw/gluetun:latest"), ["vpns[0].image", "is not pinned"]),
    "image short digest": (_single(image="qmcgaw/gluetun@sha256:abc"), ["vpns[0].image"]),
    "engine image carrying YAML": (
        _standalone(f"engine: {json.dumps({'image': INJECTED})}\n"),
        ["engine.image", "is not a Docker image reference"],
    ),
    "supervisor image carrying a quote": (
        _standalone('supervisor: {image: "x\\"\\n  privileged: true"}\n'),
        ["supervisor.image"],
    ),
    "env_file carrying YAML": (
        _single(env_file="./g.env\n    privileged: true"),
        ["vpns[0].env_file", "is not a relative file path"],
    ),
    "env_file absolute": (_single(env_file="/etc/gluetun.env"), ["vpns[0].env_file"]),
    "env_file closing the interpolation": (_single(env_file="./a}b"), ["vpns[0].env_file"]),
    "env_file with a dollar": (_single(env_file="./$HOME.env"), ["vpns[0].env_file"]),
    "env_file with a comment": (_single(env_file="./a.env #x"), ["vpns[0].env_file"]),
    "host_ip carrying YAML": (
        _standalone('  host_ip: "127.0.0.1:8000:8000\\"\\n    privileged: true\\n    x: \\""\n'),
        ["ports.host_ip", "is not an IP address"],
    ),
    "host_ip a name": (_standalone("  host_ip: localhost\n"), ["ports.host_ip", "is not an IP address"]),
    "host_ip out of range": (_standalone("  host_ip: 256.1.1.1\n"), ["ports.host_ip"]),
    "stack with a colon": (
        _standalone("").replace("stack: t", "stack: 't: x'"),
        ["stack", "String should match"],
    ),
    "stack of 5000 characters": (
        _standalone("").replace("stack: t", "stack: " + "a" * 5000),
        ["stack", "at most 63"],
    ),
    "VPN name with a newline": (_single(name="gluetun\n  privileged: true"), ["vpns[0].name"]),
    "VPN name of 100 characters": (_single(name="g" * 100), ["vpns[0].name", "at most 63"]),
    # --- variables that mean something already ---
    "api_key_env PATH": (
        _standalone("supervisor: {api_key_env: PATH}\n"),
        ["supervisor.api_key_env", "PATH"],
    ),
    "api_key_env HOME": (_standalone("supervisor: {api_key_env: HOME}\n"), ["supervisor.api_key_env"]),
    "api_key_env of the supervisor": (
        _standalone("supervisor: {api_key_env: ACE_SUPERVISOR_SETTINGS}\n"),
        ["supervisor.api_key_env", "ACE_SUPERVISOR_"],
    ),
    "api_key_env LD_PRELOAD": (
        _standalone("supervisor: {api_key_env: LD_PRELOAD}\n"),
        ["supervisor.api_key_env"],
    ),
    "api_key_env DOCKER_HOST": (_standalone("supervisor: {api_key_env: DOCKER_HOST}\n"), ["DOCKER_"]),
    "api_key_env lower case": (_standalone("supervisor: {api_key_env: key}\n"), ["supervisor.api_key_env"]),
    "control key PYTHONPATH": (_single(control_api_key_env="PYTHONPATH"), ["vpns[0].control_api_key_env"]),
    "VPN named so its variable is reserved": (_single(name="compose"), ["vpns[0].name", "COMPOSE_"]),
    "two uses of one variable": (
        _single(control_api_key_env="SUPERVISOR_API_KEY"),
        ["vpns[0].control_api_key_env", "SUPERVISOR_API_KEY is already supervisor.api_key_env"],
    ),
    # --- numbers that are not numbers ---
    "supervisor port true": (
        _standalone("").replace("11000-11019\n", "11000-11019\n  supervisor: true\n"),
        ["ports.supervisor", "valid integer"],
    ),
    "supervisor port a string": (
        _standalone("  supervisor: '8000'\n"),
        ["ports.supervisor", "valid integer"],
    ),
    "supervisor port a float": (_standalone("  supervisor: 8000.5\n"), ["ports.supervisor"]),
    "replicas max true": (_standalone("replicas: {max: true}\n"), ["replicas.max", "valid integer"]),
    "port forwarding a string": (_single(port_forwarding="yes"), ["vpns[0].port_forwarding"]),
    "offset a bool": (_standalone("  https_offset: false\n"), ["ports.https_offset"]),
    # --- ports that collide with what the host or gluetun holds ---
    "control port 53": (_single(control_port=53), ["vpns[0].control_port", "gluetun's own DNS port"]),
    "control port 9999": (_single(control_port=9999), ["vpns[0].control_port", "health server"]),
    "engines in the ephemeral range": (
        _standalone("").replace("11000-11019", "40000-40019"),
        ["ports.engine_http: 40000-40019 reaches into Linux's ephemeral ports 32768-60999", "below 32768"],
    ),
    "P2P ports pushed into the ephemeral range": (
        _single().replace("11000-11019", "11000-11019\n  p2p_offset: 25000"),
        ["ports.p2p_offset: 36000-36019 reaches into Linux's ephemeral ports"],
    ),
    "supervisor in the ephemeral range": (
        _standalone("  supervisor: 45000\n"),
        ["ports.supervisor: 45000-45000 reaches into Linux's ephemeral ports"],
    ),
    # --- Docker access ---
    "socket relative": (_standalone("docker: {socket: docker.sock}\n"), ["docker.socket", "absolute path"]),
    "socket with another variable": (
        _standalone("docker: {socket: '${HOME}/docker.sock'}\n"),
        ["docker.socket"],
    ),
    "socket escaping with ..": (
        _standalone("docker: {socket: /var/run/../../etc/passwd}\n"),
        ["docker.socket"],
    ),
    # --- found by a red-team pass: values that looked valid to a looser check ---
    "host_ip with an IPv6 zone carrying a variable": (
        _standalone('  host_ip: "::1%${SUPERVISOR_API_KEY}"\n'),
        ["ports.host_ip", "no %zone"],
    ),
    "socket that is the host's root": (
        _standalone("docker: {socket: /.}\n"),
        ["docker.socket", "ending in .sock"],
    ),
    "socket that is the host's root through /proc": (
        _standalone("docker: {socket: /proc/1/root}\n"),
        ["docker.socket"],
    ),
    "socket that is /etc": (_standalone("docker: {socket: /etc}\n"), ["docker.socket"]),
    "socket through a dot part": (
        _standalone("docker: {socket: /var/run/./docker.sock}\n"),
        ["docker.socket"],
    ),
    "env_file escaping the stack": (
        _single(env_file="../../../../etc/shadow"),
        ["vpns[0].env_file", "no . or .."],
    ),
    "env_file that is the stack's .env": (
        _single(env_file=".env"),
        ["vpns[0].env_file", "the stack's own files"],
    ),
    "env_file that is the compose file": (_single(env_file="./compose.yaml"), ["vpns[0].env_file"]),
    "a 5000-digit hex port": (_standalone("  supervisor: 0x" + "f" * 5000 + "\n"), ["ports.supervisor"]),
    "a 5000-digit decimal port": (
        _standalone("  supervisor: " + "9" * 5000 + "\n"),
        ["a value cannot be read"],
    ),
    "an alias inside itself": (_standalone("r: &b {r: *b}\n"), ["refers to the value that contains it"]),
    "extends with a NUL byte": ('extends: "a\\0b"\nstack: t\n', ["extends", "not found"]),
    "extends of 5000 characters": ("extends: " + "a" * 5000 + "\nstack: t\n", ["extends", "not found"]),
    "an infinite timeout": (
        _standalone("timings: {startup_timeout_s: .inf}\n"),
        ["timings.startup_timeout_s", "finite"],
    ),
    "a key variable named like a provider file": (
        _standalone("supervisor: {api_key_env: MY_ENV_FILE}\n"),
        ["supervisor.api_key_env", "name VPN provider files"],
    ),
    "image tag with a non-ASCII letter": (_single(image="qmcgaw/gluetun:v\u00e91"), ["vpns[0].image"]),
    "image with a short sha256": (_single(image="qmcgaw/gluetun@sha256:" + "a" * 32), ["vpns[0].image"]),
    "image with an upper-case sha256": (
        _single(image="qmcgaw/gluetun@sha256:" + "A" * 64),
        ["vpns[0].image"],
    ),
    "image on a registry that is no IPv6 address": (
        _single(image="[::::]:5000/gluetun:v1"),
        ["vpns[0].image"],
    ),
    "api_key_env LOCALDOMAIN": (
        _standalone("supervisor: {api_key_env: LOCALDOMAIN}\n"),
        ["supervisor.api_key_env"],
    ),
    "api_key_env BUILDKIT_HOST": (_standalone("supervisor: {api_key_env: BUILDKIT_HOST}\n"), ["BUILDKIT_"]),
    "api_key_env MALLOC_ARENA_MAX": (
        _standalone("supervisor: {api_key_env: MALLOC_ARENA_MAX}\n"),
        ["MALLOC_"],
    ),
    "a range in Arabic-Indic digits": (
        _standalone("").replace(
            "11000-11019", "'\u0661\u0669\u0660\u0660\u0660-\u0661\u0669\u0660\u0661\u0669'"
        ),
        ["ports.engine_http", "expected a port range"],
    ),
    "an engine allowed to be given PATH": (
        _standalone("engine: {allowed_env: [PATH]}\n"),
        ["engine.allowed_env[0]", "PATH already means something"],
    ),
    "an engine allowed to be given its port settings": (
        _standalone("engine: {allowed_env: [CONF]}\n"),
        ["engine.allowed_env[0]", "carries the engine's ports"],
    ),
    # --- files that are not profiles ---
    "not a mapping": ("- a\n- b\n", ["a profile must be a YAML mapping"]),
    "two documents": (_standalone("") + "---\nstack: u\n", ["more than one YAML document"]),
    "a python tag": (_standalone("") + "engine: !!python/object:os.system {}\n", ["YAML syntax error"]),
    "extends a directory": ("extends: .\nstack: t\n", ["extends", "not found"]),
    "extends a builtin that is not shipped": (
        "extends: builtin:nope\nstack: t\n",
        ["no shipped profile 'nope'"],
    ),
    "extends not a string": ("extends: [a, b]\nstack: t\n", ["extends: must be a file path"]),
}
