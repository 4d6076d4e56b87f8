"""Our own rules on a parsed compose file: what Docker refuses only at `up`, and what the supervisor's
settings promise about ports that the compose port mappings must keep.

Each violation is one line: the service, the key, what is wrong, and the fix.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from generator.compose_ports import Published, compress, parse_ports
from supervisor.stack_settings import (
    SETTINGS_CONFIG_NAME,
    SUPERVISOR_SERVICE,
    VPNS_PER_MODE,
    PortRange,
    StackSettings,
    VpnSettings,
)


def _published(name: str, service: dict[str, Any], problems: list[str]) -> list[Published]:
    mappings: list[Published] = []
    for entry in service.get("ports") or []:
        try:
            mappings += parse_ports(entry)
        except ValueError as error:
            problems.append(
                f"service {name}: ports: {error}; write it as HOST:CONTAINER or FIRST-LAST:FIRST-LAST"
            )
    return mappings


def _network_mode_rules(services: dict[str, Any], problems: list[str]) -> None:
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


def _settings(document: dict[str, Any], problems: list[str]) -> StackSettings | None:
    content = ((document.get("configs") or {}).get(SETTINGS_CONFIG_NAME) or {}).get("content")
    if content is None:
        if SUPERVISOR_SERVICE in (document.get("services") or {}):
            problems.append(
                f"service {SUPERVISOR_SERVICE}: configs.{SETTINGS_CONFIG_NAME}.content: missing, so the "
                "supervisor has no settings; render the stack with `gen render`"
            )
        return None
    try:
        return StackSettings.model_validate_json(content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        problems.append(
            f"service {SUPERVISOR_SERVICE}: configs.{SETTINGS_CONFIG_NAME}.content: {where}: {first['msg']}; "
            "render the stack again with `gen render`"
        )
        return None


def _vpn_rules(vpn: VpnSettings, service: dict[str, Any] | None, published: list[Published]) -> list[str]:
    name = vpn.service
    if service is None:
        return [
            f"service {name}: missing; the supervisor's settings name VPN {name!r}; "
            "add the service or render again"
        ]
    problems = []
    for key, needed in (("cap_add", "NET_ADMIN"), ("devices", "/dev/net/tun:/dev/net/tun")):
        if needed not in (service.get(key) or []):
            problems.append(f"service {name}: {key}: needs {needed!r} for gluetun to make its tunnel; add it")
    pairs = {(p.host_port, p.container_port) for p in published}
    missing = [port for port in vpn.engine_ports.http.ports() if (port, port) not in pairs]
    if missing:
        problems.append(
            f"service {name}: ports: engine ports {compress(missing)} that the supervisor may allocate "
            f'behind {name} are not published; publish "{vpn.engine_ports.http}:{vpn.engine_ports.http}"'
        )
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment if "=" in item)
    address = str(environment.get("HTTP_CONTROL_SERVER_ADDRESS", ":8000"))
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


def _supervisor_rules(settings: StackSettings, published: dict[str, list[Published]]) -> list[str]:
    problems = []
    expected = VPNS_PER_MODE[settings.mode]
    if len(settings.vpns) != expected:
        problems.append(
            f"service {SUPERVISOR_SERVICE}: configs.{SETTINGS_CONFIG_NAME}: mode {settings.mode.value!r} "
            f"needs {expected} VPN(s) but the settings list {len(settings.vpns)}; render the stack again"
        )
    port = settings.supervisor_port
    if not any(p.host_port == port for p in published.get(SUPERVISOR_SERVICE, [])):
        problems.append(
            f"service {SUPERVISOR_SERVICE}: ports: the settings say port {port} but it is not published; "
            f'publish "{port}:{port}"'
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
        for name, mappings in published.items():
            taken = [p.host_port for p in mappings if p.host_port in settings.standalone_http]
            if taken:
                problems.append(
                    f"service {name}: ports: {compress(taken)} lie in the engines' range "
                    f"{settings.standalone_http}; move them out of it"
                )
    return problems


def check_consistency(document: dict[str, Any]) -> list[str]:
    services: dict[str, Any] = document.get("services") or {}
    problems: list[str] = []
    _network_mode_rules(services, problems)
    published = {name: _published(name, service or {}, problems) for name, service in services.items()}
    seen: dict[int, str] = {}
    for name, mappings in published.items():
        for mapping in mappings:
            owner = seen.setdefault(mapping.host_port, name)
            if owner != name:
                problems.append(
                    f"service {name}: ports: host port {mapping.host_port} is also published by {owner}; "
                    "give each service its own ports"
                )
    settings = _settings(document, problems)
    if settings is not None:
        problems += _supervisor_rules(settings, published)
        for vpn in settings.vpns:
            problems += _vpn_rules(vpn, services.get(vpn.service), published.get(vpn.service, []))
    return list(dict.fromkeys(problems))
