"""Every container label the supervisor reads or writes, in one place (documented in docs/ARCHITECTURE.md).

Engines carry their ports and VPN in labels, so a restarted supervisor re-reserves exactly the ports the
running engines hold, without trusting its own database.
"""

from __future__ import annotations

PREFIX = "acestream-orchestrator"

MANAGED = f"{PREFIX}.managed"  # "true" on every engine the supervisor created
STACK = f"{PREFIX}.stack"  # the stack name from the settings
ROLE = f"{PREFIX}.role"  # "engine"
HTTP_PORT = f"{PREFIX}.http_port"  # the engine's HTTP port inside its network namespace
HTTPS_PORT = f"{PREFIX}.https_port"
P2P_PORT = f"{PREFIX}.p2p_port"
HOST_HTTP_PORT = f"{PREFIX}.host_http_port"  # the published port clients use
VPN = f"{PREFIX}.vpn"  # the gluetun compose service, absent in standalone mode
VPN_CONTAINER = f"{PREFIX}.vpn_container"  # the gluetun container whose namespace the engine joins
VPN_CONTAINER_ID = f"{PREFIX}.vpn_container_id"  # its id: a different id now means a dead namespace
VPN_STARTED_AT = f"{PREFIX}.vpn_started_at"  # when that gluetun last started: a later start means no network
FORWARDED = f"{PREFIX}.forwarded"  # "true" when the engine's P2P port is the VPN's forwarded port
CREATED_AT = f"{PREFIX}.created_at"  # RFC 3339 time the supervisor created it
STANDBY = f"{PREFIX}.standby"  # "true" on a container created to be started later (never a half-made one)
SPEC_HASH = f"{PREFIX}.spec_hash"  # what the settings made it from: another hash now means a changed profile

ENGINE_ROLE = "engine"

# Compose's own labels: how the supervisor finds its stack and the gluetun containers in it.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"


def engine_selector(stack: str) -> dict[str, str]:
    """The labels that pick out this stack's engines when listing containers."""
    return {MANAGED: "true", STACK: stack, ROLE: ENGINE_ROLE}
