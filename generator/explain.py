"""Plan -> a readable table: which VPN gets which ports, how many engines fit, what the supervisor gets."""

from __future__ import annotations

from generator.plan import Plan
from supervisor.stack_settings import (
    STANDALONE_CONTAINER_HTTP_PORT,
    STANDALONE_CONTAINER_HTTPS_PORT,
    STANDALONE_CONTAINER_P2P_PORT,
)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def explain(plan: Plan, source: str) -> str:
    s = plan.settings
    lines = [f"Profile {s.profile} ({source}): stack {s.stack!r}, mode {s.mode.value}", ""]
    header = [
        "pool",
        "engine HTTP (published)",
        "HTTPS",
        "P2P",
        "engines fit",
        "control port",
        "port forwarding",
    ]
    if s.standalone_http is not None:
        rows = [
            [
                "host",
                str(s.standalone_http),
                f"{STANDALONE_CONTAINER_HTTPS_PORT} (in each engine)",
                f"{STANDALONE_CONTAINER_P2P_PORT} (in each engine)",
                str(len(s.standalone_http)),
                "-",
                "-",
            ]
        ]
    else:
        rows = [
            [
                f"VPN {vpn.service}",
                str(vpn.engine_ports.http),
                str(vpn.engine_ports.https),
                str(vpn.engine_ports.p2p),
                str(len(vpn.engine_ports)),
                f"{vpn.control_port} (not published)",
                "on" if vpn.port_forwarding else "off",
            ]
            for vpn in s.vpns
        ]
    lines += _table(header, rows)
    if s.standalone_http is not None:
        lines.append(f"(engines listen on {STANDALONE_CONTAINER_HTTP_PORT} inside their own containers)")
    r, t = s.replicas, s.timings
    host = s.host_ip or "every address"
    lines += [
        "",
        f"Supervisor: port {s.supervisor_port} on {host}; API key from ${s.api_key_env}",
        f"Engine: {s.engine.image} (ports passed as {s.engine.port_style.value})",
        f"Engine cache: {s.engine.cache.mode.value}, limit {s.engine.cache.limit.human_readable()} "
        f"(measured every {t.cache_check_interval_s:g} s; an idle engine over it is replaced)",
        f"Replicas: min {r.min}, min_free {r.min_free}, max {r.max}, max_streams_per_engine "
        f"{r.max_streams_per_engine}, standby {r.standby}",
        "Timings: " + ", ".join(f"{name} {value:g}" for name, value in t.model_dump().items()),
    ]
    for vpn in s.vpns:
        lines.append(f"VPN {vpn.service}: control-server key from ${vpn.control_api_key_env}")
    return "\n".join(lines) + "\n"
