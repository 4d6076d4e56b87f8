"""Our own rules on a compose file as Compose normalized it (`config --format json`): what Docker refuses
only at `up`, what the supervisor's settings promise about ports that the compose port mappings must keep,
and what no stack of ours should grant a container.

Each violation is one line: the service, the key, what is wrong, and the fix.
"""

from __future__ import annotations

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
# Host paths whose mount hands a container the host: the root, its system trees, Docker's own state.
HOST_SYSTEM_PATHS = (
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/root",
    "/boot",
    "/dev",
    "/var/lib/docker",
    "/run",
    "/var/run",
)
DOCKER_SOCKET_NAME = "docker.sock"
# Capabilities that amount to root on the host; gluetun needs NET_ADMIN only.
HOST_CAPABILITIES = {
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "DAC_READ_SEARCH",
    "SYS_BOOT",
}
HOST_NAMESPACES = ("pid", "ipc", "uts", "userns_mode", "cgroup")


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


def _mount_sources(service: dict[str, Any]) -> list[str]:
    return [
        str(volume.get("source") or "")
        for volume in service.get("volumes") or []
        if isinstance(volume, dict) and volume.get("type") == "bind"
    ]


def _security_rules(services: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in services.items():
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
            if service.get(key) == "host":
                problems.append(f"service {name}: {key}: host shares the host's {key} namespace; remove it")
        granted = sorted({str(c).upper().removeprefix("CAP_") for c in service.get("cap_add") or []})
        for capability in [c for c in granted if c in HOST_CAPABILITIES]:
            problems.append(f"service {name}: cap_add: {capability} amounts to root on the host; remove it")
        for option in service.get("security_opt") or []:
            if str(option).replace("=", ":").endswith(":unconfined"):
                problems.append(f"service {name}: security_opt: {option!r} drops the sandbox; remove it")
        for source in _mount_sources(service):
            clean = source.rstrip("/") or "/"
            if clean in HOST_SYSTEM_PATHS:
                problems.append(
                    f"service {name}: volumes: mounts the host's {clean} into the container; remove it "
                    "(mount only the files the service needs)"
                )
            elif clean.endswith(f"/{DOCKER_SOCKET_NAME}") and name != SUPERVISOR_SERVICE:
                problems.append(
                    f"service {name}: volumes: mounts the Docker socket {clean}, which controls the host; "
                    "only "
                    f"the {SUPERVISOR_SERVICE} may have it; remove it"
                )
        restart = service.get("restart")
        if restart is not None and not RESTART_POLICY.match(str(restart)):
            problems.append(
                f"service {name}: restart: {str(restart)!r} is not a restart policy Docker knows; use no, "
                "always, on-failure[:N] or unless-stopped"
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


def check_consistency(model: dict[str, Any]) -> list[str]:
    """Every violation of a normalized compose model, one line each, in a stable order."""
    services: dict[str, Any] = model.get("services") or {}
    problems = _network_mode_rules(services) + _security_rules(services) + _host_port_clashes(services)
    settings, settings_problems = _settings(model)
    problems += settings_problems
    if settings is not None:
        problems += _supervisor_rules(settings, services)
        for vpn in settings.vpns:
            problems += _vpn_rules(vpn, services.get(vpn.service))
    return list(dict.fromkeys(problems))
