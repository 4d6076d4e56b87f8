"""Our own rules on a compose file as Compose normalized it (`config --format json`): what Docker refuses
only at `up`, what the supervisor's settings promise about ports that the compose port mappings must keep,
and what no stack of ours should grant a container.

Each violation is one line: the service, the key, what is wrong, and the fix.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from generator.compose_ports import compress
from supervisor.stack_settings import (
    SETTINGS_CONFIG_NAME,
    SUPERVISOR_SERVICE,
    VPNS_PER_MODE,
    PortRange,
    StackSettings,
    VpnSettings,
)

RESTART_POLICY = re.compile(r"^(no|always|unless-stopped|on-failure(:[0-9]+)?)$")
# Host trees whose mount hands a container the host: the root, its system trees, Docker's own state.
HOST_SYSTEM_TREES = (
    "/etc", "/proc", "/sys", "/root", "/boot", "/dev", "/run", "/var/run", "/var/lib/docker",
    "/var/lib/containerd", "/var/spool", "/usr", "/lib", "/lib64", "/bin", "/sbin",
)  # fmt: skip
DOCKER_SOCKET_NAME = "docker.sock"
DOCKER_SOCKET_TARGET = "/var/run/docker.sock"
# Capabilities that amount to root on the host, or reach past the container; gluetun needs NET_ADMIN only.
HOST_CAPABILITIES = {
    "ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "DAC_READ_SEARCH", "SYS_BOOT", "SYS_TIME",
    "BPF", "PERFMON", "MAC_ADMIN", "MAC_OVERRIDE", "SYS_RESOURCE", "SYSLOG", "LINUX_IMMUTABLE", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_CONTROL",
}  # fmt: skip
HOST_NAMESPACES = ("pid", "ipc", "uts", "userns_mode", "cgroup")
GLUETUN_DEVICE = "/dev/net/tun"


def host_path(source: str) -> str:
    """A bind source as the kernel resolves it: /./, //, /etc/../etc and symlinks (on this machine, where
    the stack runs) all lead to the same tree."""
    if not source.startswith("/"):
        return source
    try:
        return os.path.realpath(posixpath.normpath("/" + source.lstrip("/")))
    except (OSError, ValueError):
        return posixpath.normpath("/" + source.lstrip("/"))


def _protected_tree(clean: str) -> str | None:
    """The protected tree a host path is, lies in, or contains (mounting /var hands over /var/lib/docker)."""
    if clean == "/":
        return "/"
    for tree in HOST_SYSTEM_TREES:
        if clean == tree or clean.startswith(f"{tree}/") or tree.startswith(f"{clean}/"):
            return tree if clean.startswith(tree) else clean
    return None


def host_path_problem(name: str, source: str, what: str, project: str | None = None) -> str | None:
    clean = host_path(source)
    if not clean.startswith("/"):
        return None  # a named volume
    if clean.endswith(f"/{DOCKER_SOCKET_NAME}"):
        return None  # the Docker socket rule judges these
    if project is not None and (clean == project or clean.startswith(f"{project}/")):
        return None  # the stack's own directory (symlinks resolved, so none leads out of it)
    tree = _protected_tree(clean)
    if tree is not None:
        shown = tree
        inside = "" if clean == shown else f" ({clean})"
        return (
            f"service {name}: {what}: mounts the host's {shown}{inside} into the container; remove it "
            "(mount only the files the service needs)"
        )
    return None


def _bind_sources(service: dict[str, Any], volumes: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every host path the service mounts, named volumes backed by a bind included."""
    sources = []
    for volume in service.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        if volume.get("type") == "bind":
            sources.append((str(volume.get("source") or ""), str(volume.get("target") or "")))
        elif volume.get("type") == "volume":
            options = ((volumes.get(str(volume.get("source"))) or {}).get("driver_opts")) or {}
            target = str(volume.get("target") or "")
            # Any local-driver device (a bind, a disk such as /dev/sda1) and overlay's layer directories.
            sources += [(path, target) for path in _driver_paths(options)]
    return sources


def _driver_paths(options: dict[str, Any]) -> list[str]:
    paths = [str(options.get("device") or "")]
    for option in str(options.get("o") or "").split(","):
        key, _, value = option.partition("=")
        if key.strip().lower() in ("lowerdir", "upperdir", "workdir"):
            paths += value.split(":")
    return [path for path in paths if path.startswith("/")]


def _holds_docker_socket(service: dict[str, Any], volumes: dict[str, Any]) -> bool:
    return any(host_path(s).endswith(f"/{DOCKER_SOCKET_NAME}") for s, _t in _bind_sources(service, volumes))


def _mount_rules(name: str, service: dict[str, Any], model: dict[str, Any], project: str | None) -> list[str]:
    volumes, services = model.get("volumes") or {}, model.get("services") or {}
    problems = []
    for source, target in _bind_sources(service, volumes):
        clean = host_path(source)
        if clean.endswith(f"/{DOCKER_SOCKET_NAME}"):
            if name != SUPERVISOR_SERVICE or target != DOCKER_SOCKET_TARGET:
                problems.append(
                    f"service {name}: volumes: mounts the Docker socket {posixpath.normpath(source)}, which "
                    "controls the host; "
                    f"only the {SUPERVISOR_SERVICE} may have it, at {DOCKER_SOCKET_TARGET}; remove it"
                )
        elif problem := host_path_problem(name, source, "volumes", project):
            problems.append(problem)
    for entry in service.get("volumes_from") or []:
        other = str(entry).removeprefix("service:").split(":")[0]
        if _holds_docker_socket(services.get(other) or {}, volumes) or other == SUPERVISOR_SERVICE:
            problems.append(
                f"service {name}: volumes_from: {other} hands it {other}'s mounts, the Docker socket among "
                "them; remove it"
            )
    for key in ("secrets", "configs"):
        for entry in service.get(key) or []:
            name_of = str(entry.get("source")) if isinstance(entry, dict) else str(entry)
            declared: dict[str, Any] = (model.get(key) or {}).get(name_of) or {}
            if problem := host_path_problem(name, str(declared.get("file") or ""), key, project):
                problems.append(problem)
    build: dict[str, Any] = service["build"] if isinstance(service.get("build"), dict) else {}
    contexts = [str(build.get("context") or ""), *map(str, (build.get("additional_contexts") or {}).values())]
    for context in contexts:
        if problem := host_path_problem(name, context, "build.context", project):
            problems.append(problem)
    for entry in build.get("secrets") or []:
        name_of = str(entry.get("source")) if isinstance(entry, dict) else str(entry)
        declared = (model.get("secrets") or {}).get(name_of) or {}
        if problem := host_path_problem(name, str(declared.get("file") or ""), "build.secrets", project):
            problems.append(problem)
    if build.get("ssh"):
        problems.append(f"service {name}: build.ssh: hands the build your SSH agent; remove it")
    return problems


def _privilege_rules(name: str, service: dict[str, Any]) -> list[str]:
    problems = []
    if service.get("privileged"):
        problems.append(
            f"service {name}: privileged: true gives the container the whole host; remove it "
            "(gluetun needs only cap_add NET_ADMIN and /dev/net/tun)"
        )
    if service.get("network_mode") == "host":
        problems.append(
            f"service {name}: network_mode: host puts the container on the host's network, outside any "
            "VPN; remove it"
        )
    for key in HOST_NAMESPACES:
        mode = str(service.get(key) or "")
        if mode == "host":
            problems.append(f"service {name}: {key}: host shares the host's {key} namespace; remove it")
        elif key in ("pid", "ipc") and mode.startswith(("service:", "container:")):
            problems.append(
                f"service {name}: {key}: {mode} shares another container's {key} namespace (through /proc, "
                "its files and the Docker socket); remove it"
            )
    granted = sorted({str(c).upper().removeprefix("CAP_") for c in service.get("cap_add") or []})
    for capability in [c for c in granted if c in HOST_CAPABILITIES]:
        problems.append(f"service {name}: cap_add: {capability} reaches past the container; remove it")
    for option in service.get("security_opt") or []:
        text = str(option).replace("=", ":")
        unconfined_label = text.startswith("label:type:") and text.endswith(("spc_t", "unconfined_t"))
        if (
            text.endswith(":unconfined")
            or unconfined_label
            or text in ("label:disable", "no-new-privileges:false")
        ):
            problems.append(f"service {name}: security_opt: {option!r} drops the sandbox; remove it")
    for device in service.get("devices") or []:
        source = str(device.get("source") if isinstance(device, dict) else device).split(":")[0]
        if host_path(source) != GLUETUN_DEVICE:
            problems.append(
                f"service {name}: devices: {source} gives the container a host device; only gluetun's "
                f"{GLUETUN_DEVICE} belongs in this stack; remove it"
            )
    if service.get("device_cgroup_rules"):
        problems.append(
            f"service {name}: device_cgroup_rules: opens host devices to the container; remove it"
        )
    for hook in [*(service.get("post_start") or []), *(service.get("pre_stop") or [])]:
        if isinstance(hook, dict) and hook.get("privileged"):
            problems.append(f"service {name}: post_start/pre_stop: a privileged hook; remove privileged")
    build: dict[str, Any] = service["build"] if isinstance(service.get("build"), dict) else {}
    if build.get("privileged") or build.get("entitlements") or build.get("network") == "host":
        problems.append(
            f"service {name}: build: privileged, entitlements or network host let the build reach the host; "
            "remove them"
        )
    return problems


def _restart_rule(name: str, service: dict[str, Any]) -> list[str]:
    restart = service.get("restart")
    if restart is not None and not RESTART_POLICY.match(str(restart)):
        return [
            f"service {name}: restart: {str(restart)!r} is not a restart policy Docker knows; use no, "
            "always, on-failure[:N] or unless-stopped"
        ]
    return []


def _network_rules(name: str, service: dict[str, Any], model: dict[str, Any]) -> list[str]:
    problems = []
    declared = model.get("networks") or {}
    for network in service.get("networks") or {}:
        real = str((declared.get(network) or {}).get("name") or network)
        if real == "host":
            problems.append(
                f"service {name}: networks: {network} is the host's network, outside any VPN; remove it"
            )
    services = set(model.get("services") or {})
    for entry in service.get("extra_hosts") or []:
        host = str(entry).split("=")[0].split(":")[0] if not isinstance(entry, dict) else ""
        if host in services:
            problems.append(
                f"service {name}: extra_hosts: {host} is a service of this stack; pointing it elsewhere "
                "sends its traffic (and keys) off the stack; remove it"
            )
    if isinstance(service.get("extra_hosts"), dict):
        for host in service["extra_hosts"]:
            if host in services:
                problems.append(f"service {name}: extra_hosts: {host} is a service of this stack; remove it")
    return problems


def security_rules(model: dict[str, Any], project: str | None = None) -> list[str]:
    """What no container of this stack needs: host privileges, host trees, the socket elsewhere."""
    problems = []
    for name, service in (model.get("services") or {}).items():
        problems += _privilege_rules(name, service) + _mount_rules(name, service, model, project)
        problems += _network_rules(name, service, model)
        problems += _restart_rule(name, service)
    return problems


@dataclass(frozen=True)
class Published:
    """One host port forwarded to one container port."""

    host_ip: str | None
    host_port: int
    container_port: int


def _published(service: dict[str, Any]) -> list[Published]:
    mappings = []
    for entry in service.get("ports") or []:
        published = str(entry.get("published") or "")
        if published.isdigit():  # normalized: one entry per port; empty means an ephemeral host port
            mappings.append(Published(entry.get("host_ip"), int(published), int(entry["target"])))
    return mappings


def _network_mode_rules(services: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in services.items():
        mode = service.get("network_mode")
        if not mode:
            continue
        for key in ("ports", "networks"):
            if service.get(key):
                problems.append(
                    f"service {name}: {key}: not allowed beside network_mode {mode!r} (Docker refuses it at "
                    f"up); remove {key}: here and set it on the service whose network {name} joins"
                )
    return problems


def _settings(document: dict[str, Any]) -> tuple[StackSettings | None, list[str]]:
    content = ((document.get("configs") or {}).get(SETTINGS_CONFIG_NAME) or {}).get("content")
    where = f"service {SUPERVISOR_SERVICE}: configs.{SETTINGS_CONFIG_NAME}.content"
    if content is None:
        if SUPERVISOR_SERVICE in (document.get("services") or {}):
            return None, [f"{where}: missing, so the supervisor has no settings; render it with `gen render`"]
        return None, []
    try:
        return StackSettings.model_validate_json(content), []
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return None, [f"{where}: {field}: {first['msg']}; render the stack again with `gen render`"]


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    environment = service.get("environment") or {}
    return environment if isinstance(environment, dict) else {}


def _vpn_rules(vpn: VpnSettings, service: dict[str, Any] | None) -> list[str]:
    name = vpn.service
    if service is None:
        return [
            f"service {name}: missing; the supervisor's settings name VPN {name!r}; "
            "add the service or render again"
        ]
    problems = []
    if "NET_ADMIN" not in [str(c).upper().removeprefix("CAP_") for c in service.get("cap_add") or []]:
        problems.append(f"service {name}: cap_add: needs 'NET_ADMIN' for gluetun to make its tunnel; add it")
    if not any(
        d.get("target") == "/dev/net/tun" for d in service.get("devices") or [] if isinstance(d, dict)
    ):
        problems.append(
            f"service {name}: devices: needs '/dev/net/tun:/dev/net/tun' for gluetun to make its tunnel; "
            "add it"
        )
    published = _published(service)
    pairs = {(p.host_port, p.container_port) for p in published}
    missing = [port for port in vpn.engine_ports.http.ports() if (port, port) not in pairs]
    if missing:
        problems.append(
            f"service {name}: ports: engine ports {compress(missing)} that the supervisor may allocate "
            f'behind {name} are not published; publish "{vpn.engine_ports.http}:{vpn.engine_ports.http}"'
        )
    address = str(_environment(service).get("HTTP_CONTROL_SERVER_ADDRESS") or ":8000")
    match = re.search(r":(\d+)$", address)
    if not match or int(match.group(1)) != vpn.control_port:
        problems.append(
            f"service {name}: environment.HTTP_CONTROL_SERVER_ADDRESS: {address!r} but the supervisor calls "
            f'port {vpn.control_port}; set it to ":{vpn.control_port}"'
        )
    if any(p.container_port == vpn.control_port for p in published):
        problems.append(
            f"service {name}: ports: the control port {vpn.control_port} is published to the host; remove it "
            "(the supervisor reaches it on the compose network)"
        )
    return problems


def _supervisor_rules(settings: StackSettings, services: dict[str, Any]) -> list[str]:
    problems = []
    expected = VPNS_PER_MODE[settings.mode]
    if len(settings.vpns) != expected:
        problems.append(
            f"service {SUPERVISOR_SERVICE}: configs.{SETTINGS_CONFIG_NAME}: mode {settings.mode.value!r} "
            f"needs {expected} VPN(s) but the settings list {len(settings.vpns)}; render the stack again"
        )
    port = settings.supervisor_port
    supervisor = services.get(SUPERVISOR_SERVICE) or {}
    # The supervisor listens on its port inside its container; the host may publish it on any port.
    if not any(p.container_port == port for p in _published(supervisor)):
        problems.append(
            f"service {SUPERVISOR_SERVICE}: ports: the supervisor listens on {port} but no host port "
            f'reaches it; publish "{port}:{port}" (or "HOST_PORT:{port}")'
        )
    ranges: list[tuple[str, PortRange]] = [(v.service, v.engine_ports.http) for v in settings.vpns]
    for index, (name, ports) in enumerate(ranges):
        for other_name, other in ranges[index + 1 :]:
            if ports.overlaps(other):
                problems.append(
                    f"service {other_name}: ports: its engine range {other} overlaps {name}'s {ports}; "
                    "give each VPN a disjoint range"
                )
    if settings.standalone_http is not None:
        for name, service in services.items():
            taken = [p.host_port for p in _published(service) if p.host_port in settings.standalone_http]
            if taken:
                problems.append(
                    f"service {name}: ports: {compress(taken)} lie in the engines' range "
                    f"{settings.standalone_http}; move them out of it"
                )
    return problems


def _host_port_clashes(services: dict[str, Any]) -> list[str]:
    problems = []
    seen: dict[tuple[int, str], str] = {}
    for name, service in services.items():
        for entry in service.get("ports") or []:
            published = str(entry.get("published") or "")
            if not published.isdigit():
                continue
            key = (int(published), str(entry.get("protocol") or "tcp"))
            owner = seen.setdefault(key, name)
            if owner != name:
                problems.append(
                    f"service {name}: ports: host port {published} is also published by {owner}; "
                    "give each service its own ports"
                )
    return problems


MAX_PROBLEMS = 100  # a hostile file could make millions of lines; the first hundred say enough


def check_consistency(model: dict[str, Any], project_dir: str | None = None) -> list[str]:
    """Every violation of a normalized compose model, one line each, in a stable order. Host paths inside
    `project_dir` (the stack's own directory) are the user's files, not the host's."""
    project = host_path(project_dir) if project_dir else None
    services: dict[str, Any] = model.get("services") or {}
    problems = _network_mode_rules(services) + security_rules(model, project) + _host_port_clashes(services)
    settings, settings_problems = _settings(model)
    problems += settings_problems
    if settings is not None:
        problems += _supervisor_rules(settings, services)
        for vpn in settings.vpns:
            problems += _vpn_rules(vpn, services.get(vpn.service))
    unique = list(dict.fromkeys(problems))
    if len(unique) > MAX_PROBLEMS:
        return [*unique[:MAX_PROBLEMS], f"... and {len(unique) - MAX_PROBLEMS} more problems"]
    return unique
