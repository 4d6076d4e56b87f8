"""profile -> Plan, pure. The plan is the one source of truth for every port of the stack.

The compose file's port mappings and the supervisor's settings are both rendered from the plan, so they
cannot disagree. Everything a profile can get wrong about ports is refused here, each problem naming the
profile field, the numbers, and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.errors import UserError
from generator.profile import Profile, VpnProfile
from supervisor.stack_settings import (
    SUPERVISOR_SERVICE,
    VPNS_PER_MODE,
    EnginePorts,
    EngineSettings,
    Frozen,
    Mode,
    PortRange,
    StackSettings,
    VpnSettings,
)

# Ports gluetun itself listens on inside its namespace; engines sharing it must keep off them.
GLUETUN_INTERNAL_PORTS = {53: "DNS", 8388: "Shadowsocks", 8888: "HTTP proxy", 9999: "health server"}

# Linux's default ephemeral range (net.ipv4.ip_local_port_range): the kernel gives these ports to outgoing
# connections, so one of them may be held when compose publishes it ("port is already allocated").
EPHEMERAL_PORTS = PortRange(first=32768, last=60999)


class VpnService(Frozen):
    """What only the compose file needs about one gluetun (its ports live in the settings)."""

    name: str
    image: str
    env_file: str
    env_file_env: str


class SupervisorService(Frozen):
    """What only the compose file needs about the supervisor: its image and the Docker it manages."""

    image: str
    docker_socket: str  # the host path mounted at the supervisor's /var/run/docker.sock


class Plan(Frozen):
    settings: StackSettings
    supervisor: SupervisorService
    vpn_services: tuple[VpnService, ...] = ()


class PlanError(UserError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join([f"{source}: the port plan is not valid", *(f"  {p}" for p in problems)]))


@dataclass(frozen=True)
class _Claim:
    """A range of ports in one place (the host when vpn is None, else that VPN's namespace)."""

    vpn: str | None
    ports: PortRange
    field: str

    @property
    def place(self) -> str:
        return "the host" if self.vpn is None else f"the network namespace of VPN {self.vpn!r}"


def _split(total: PortRange, parts: int) -> list[PortRange]:
    """Split evenly; the first ranges take one extra port when it does not divide."""
    size, extra = divmod(len(total), parts)
    ranges, first = [], total.first
    for index in range(parts):
        length = size + (1 if index < extra else 0)
        ranges.append(PortRange(first=first, last=first + length - 1))
        first += length
    return ranges


def _vpn_http_ranges(profile: Profile, problems: list[str]) -> list[tuple[PortRange, str]]:
    explicit = [vpn.engine_http is not None for vpn in profile.vpns]
    if any(explicit) and not all(explicit):
        problems.append(
            "vpns[].engine_http: given for some VPNs but not all; give it for every VPN or for none "
            "(then ports.engine_http is split evenly)"
        )
    if not all(explicit):
        total = profile.ports.engine_http
        if len(total) < len(profile.vpns):
            return []
        return [(r, "ports.engine_http") for r in _split(total, len(profile.vpns))]
    ranges = []
    for index, vpn in enumerate(profile.vpns):
        assert vpn.engine_http is not None
        field = f"vpns[{index}].engine_http"
        outer = profile.ports.engine_http
        if not (outer.first <= vpn.engine_http.first and vpn.engine_http.last <= outer.last):
            problems.append(
                f"{field}: {vpn.engine_http} lies outside ports.engine_http {outer}; "
                f"widen ports.engine_http or move {field} inside it"
            )
        ranges.append((vpn.engine_http, field))
    return ranges


def _shift(http: PortRange, offset: int, field: str, what: str, problems: list[str]) -> PortRange | None:
    if http.first + offset < 1 or http.last + offset > 65535:
        problems.append(
            f"{field}: {what} ports {http.first + offset}-{http.last + offset} (HTTP range {http} "
            f"+ {offset}) fall outside 1-65535; choose an offset that keeps them inside"
        )
        return None
    return http.shifted(offset)


def _engine_ports(
    profile: Profile, problems: list[str]
) -> list[tuple[VpnProfile, EnginePorts, list[_Claim]]]:
    result = []
    for vpn, (http, field) in zip(profile.vpns, _vpn_http_ranges(profile, problems), strict=False):
        https = _shift(http, profile.ports.https_offset, "ports.https_offset", "HTTPS", problems)
        p2p = _shift(http, profile.ports.p2p_offset, "ports.p2p_offset", "P2P", problems)
        if https is None or p2p is None:
            continue
        claims = [
            _Claim(vpn.name, http, field),
            _Claim(vpn.name, https, "ports.https_offset"),
            _Claim(vpn.name, p2p, "ports.p2p_offset"),
        ]
        result.append((vpn, EnginePorts(http=http, https=https, p2p=p2p), claims))
    return result


def _check_capacity(profile: Profile, ranges: list[tuple[PortRange, str]], problems: list[str]) -> None:
    need = profile.replicas.max
    why = " (in redundant mode each VPN must hold every engine while the other is down)"
    for ports, field in ranges:
        if len(ports) < need:
            # A shared range is split between the VPNs, so it must hold `need` ports for each of them.
            wanted = need * max(1, len(profile.vpns)) if field == "ports.engine_http" else need
            problems.append(
                f"{field}: {ports} gives {len(ports)} ports per engine pool but replicas.max is {need}"
                f"{why if profile.mode is Mode.redundant else ''}; widen {field} to at least {wanted} ports "
                f"(for example {ports.first}-{ports.first + wanted - 1}) or lower replicas.max"
            )


def _check_overlaps(claims: list[_Claim], problems: list[str]) -> None:
    for index, claim in enumerate(claims):
        for other in claims[index + 1 :]:
            if claim.vpn == other.vpn and claim.ports.overlaps(other.ports):
                problems.append(
                    f"{claim.field}: {claim.ports} overlaps {other.field} {other.ports} in {claim.place}; "
                    "move one of them so the ranges are disjoint"
                )


def _check_singles(profile: Profile, claims: list[_Claim], problems: list[str]) -> None:
    """Single ports (supervisor, control servers, gluetun's own) must not fall inside an engine range."""
    singles: list[tuple[int, str, str | None]] = [(profile.ports.supervisor, "ports.supervisor", None)]
    for index, vpn in enumerate(profile.vpns):
        singles.append((vpn.control_port, f"vpns[{index}].control_port", vpn.name))
        singles += [
            (port, f"gluetun's {what} port", vpn.name) for port, what in GLUETUN_INTERNAL_PORTS.items()
        ]
    for port, name, vpn_name in singles:
        for claim in claims:
            if claim.vpn == vpn_name and port in claim.ports:
                problems.append(
                    f"{claim.field}: {claim.ports} contains {name} {port} in {claim.place}; "
                    f"move the range or change {name}"
                )


def _check_ephemeral(profile: Profile, claims: list[_Claim], problems: list[str]) -> None:
    singles = [(PortRange(first=profile.ports.supervisor, last=profile.ports.supervisor), "ports.supervisor")]
    singles += [
        (PortRange(first=vpn.control_port, last=vpn.control_port), f"vpns[{index}].control_port")
        for index, vpn in enumerate(profile.vpns)
    ]
    for ports, field in [*((c.ports, c.field) for c in claims), *singles]:
        if ports.overlaps(EPHEMERAL_PORTS):
            problems.append(
                f"{field}: {ports} reaches into Linux's ephemeral ports {EPHEMERAL_PORTS}, which the kernel "
                "lends to outgoing connections, so `docker compose up` may find one taken; move it below "
                f"{EPHEMERAL_PORTS.first} (the shipped engine range is 19000-19019)"
            )


def _check_control_ports(profile: Profile, problems: list[str]) -> None:
    for index, vpn in enumerate(profile.vpns):
        if vpn.control_port in GLUETUN_INTERNAL_PORTS:
            problems.append(
                f"vpns[{index}].control_port: {vpn.control_port} is gluetun's own "
                f"{GLUETUN_INTERNAL_PORTS[vpn.control_port]} port; use another, such as the default 8000"
            )


def _check_variables(profile: Profile, problems: list[str]) -> None:
    """Every .env variable of the stack names one thing: a shared name would hand one secret to two uses."""
    owners: dict[str, str] = {profile.supervisor.api_key_env: "supervisor.api_key_env"}
    for index, vpn in enumerate(profile.vpns):
        for variable, field in (
            (vpn.api_key_env, f"vpns[{index}].control_api_key_env"),
            (vpn.env_file_env, f"vpns[{index}].name (its {vpn.env_file_env})"),
        ):
            owner = owners.setdefault(variable, field)
            if owner != field:
                problems.append(
                    f"{field}: the variable {variable} is already {owner}'s; give each its own variable"
                )


def build_plan(profile: Profile, profile_name: str, source: str) -> Plan:
    problems: list[str] = []
    expected_vpns = VPNS_PER_MODE[profile.mode]
    if len(profile.vpns) != expected_vpns:
        problems.append(
            f"vpns: mode {profile.mode.value!r} needs {expected_vpns} VPN(s), the profile lists "
            f"{len(profile.vpns)}; list {expected_vpns} under vpns or change mode"
        )
    names = [vpn.name for vpn in profile.vpns]
    for index, name in enumerate(names):
        if name in names[:index] or name == SUPERVISOR_SERVICE:
            problems.append(
                f"vpns[{index}].name: {name!r} is already a service name in this stack; give it a unique name"
            )
    if profile.replicas.min > profile.replicas.max:
        problems.append(
            f"replicas.min: {profile.replicas.min} exceeds replicas.max {profile.replicas.max}; lower min"
        )
    if profile.replicas.min_free > profile.replicas.max:
        problems.append(
            f"replicas.min_free: {profile.replicas.min_free} exceeds replicas.max {profile.replicas.max}; "
            "lower min_free"
        )
    if profile.replicas.standby > profile.replicas.max:
        problems.append(
            f"replicas.standby: {profile.replicas.standby} exceeds replicas.max {profile.replicas.max}; "
            "lower standby (a standby only helps while an engine started from it fits under max)"
        )

    host = profile.ports.engine_http
    vpn_ports = _engine_ports(profile, problems) if profile.mode is not Mode.standalone else []
    claims: list[_Claim] = []
    if profile.mode is Mode.standalone:
        claims.append(_Claim(None, host, "ports.engine_http"))
        _check_capacity(profile, [(host, "ports.engine_http")], problems)
    else:
        for _vpn, ports, vpn_claims in vpn_ports:
            claims += vpn_claims
            claims.append(_Claim(None, ports.http, vpn_claims[0].field))
        _check_capacity(profile, [(p.http, c[0].field) for _v, p, c in vpn_ports], problems)
    _check_overlaps(claims, problems)
    _check_singles(profile, claims, problems)
    _check_ephemeral(profile, claims, problems)
    _check_control_ports(profile, problems)
    _check_variables(profile, problems)
    if problems:
        raise PlanError(source, list(dict.fromkeys(problems)))

    image, style = profile.engine.resolved()
    settings = StackSettings(
        stack=profile.stack,
        mode=profile.mode,
        profile=profile_name,
        supervisor_port=profile.ports.supervisor,
        host_ip=profile.ports.host_ip,
        api_key_env=profile.supervisor.api_key_env,
        engine=EngineSettings(
            image=image,
            port_style=style,
            allowed_env=tuple(dict.fromkeys(profile.engine.allowed_env)),
            image_pull=profile.engine.image_pull,
            cache=profile.engine.cache,
        ),
        standalone_http=host if profile.mode is Mode.standalone else None,
        vpns=tuple(
            VpnSettings(
                service=vpn.name,
                control_port=vpn.control_port,
                control_api_key_env=vpn.api_key_env,
                port_forwarding=vpn.port_forwarding,
                engine_ports=ports,
            )
            for vpn, ports, _claims in vpn_ports
        ),
        replicas=profile.replicas,
        timings=profile.timings,
    )
    services = tuple(
        VpnService(
            name=vpn.name, image=vpn.image, env_file=vpn.default_env_file, env_file_env=vpn.env_file_env
        )
        for vpn in profile.vpns
    )
    supervisor = SupervisorService(image=profile.supervisor.image, docker_socket=profile.docker.socket)
    return Plan(settings=settings, supervisor=supervisor, vpn_services=services)
