"""Attaching to the stack at start-up: find our compose project, the gluetuns, and adopt our engines.

Start-up never deletes an engine: every engine Docker lists is adopted with the port its labels name (one
not running is marked unhealthy, as its restart policy may start it again on that port); engines the store
remembers but Docker no longer has are marked gone (never resurrected). The one thing removed is a
container an interrupted provision created but never started (it never served and holds no port); a
standby (created on purpose, never started, labelled as such) is held again on its slot.
"""

from __future__ import annotations

import logging
import socket

from supervisor.core import labels as label
from supervisor.core.events import EventType
from supervisor.core.health import HealthStatus
from supervisor.core.offer import namespace_lost
from supervisor.core.ports import PortConflict
from supervisor.core.records import Engine, Standby
from supervisor.runtime.base import ContainerInfo, Runtime
from supervisor.state import StackState, VpnState
from supervisor.store import Store

log = logging.getLogger("supervisor.attach")


async def find_project(state: StackState, runtime: Runtime) -> None:
    """Our compose project and network: the env override, else our own container's labels, else the
    stack name (the generator renders the project `name:` as the stack name)."""
    env = state.config.env
    own = await runtime.inspect(socket.gethostname())
    state.project = (
        env.project or (own.labels.get(label.COMPOSE_PROJECT) if own else None) or state.config.stack.stack
    )
    state.network = env.network or (own.networks[0] if own and own.networks else None)
    log.info("attached to compose project %s (network %s)", state.project, state.network or "none")


async def find_vpns(state: StackState, runtime: Runtime) -> None:
    """The running gluetun container of each VPN service, by compose labels."""
    for service, vpn in state.vpns.items():
        if service is None:
            continue
        found = await runtime.list(
            {label.COMPOSE_PROJECT: state.project or "", label.COMPOSE_SERVICE: service}
        )
        running = [info for info in found if info.running]
        if not running:
            if vpn.container_id is not None:
                log.warning("VPN %s: its container is gone", service)
            vpn.container_id = vpn.container_name = vpn.address = None
            continue
        info = await runtime.inspect(running[0].id) or running[0]
        if info.id != vpn.container_id:
            log.info("VPN %s is container %s", service, info.name)
        vpn.container_id, vpn.container_name, vpn.started_at = info.id, info.name, info.started_at
        vpn.address = info.ip_address or info.name


async def adopt_engines(state: StackState, runtime: Runtime, store: Store) -> None:
    found = await runtime.list(label.engine_selector(state.config.stack.stack))
    now = state.clock.now()
    for info in found:
        if (info.never_started or info.paused) and info.labels.get(label.STANDBY) == "true":
            # A standby made to be started later, not debris: held again with its slot (the reconciler
            # replaces it if it no longer matches the settings, the image or its VPN's namespace).
            try:
                hold_standby(state, info)
            except PortConflict as error:
                log.warning("removing standby %s: %s", info.name, error)
                await runtime.stop_and_remove(info.id)
            continue
        if info.never_started:
            # Created, then the supervisor died before starting it: it never served, and holds no port.
            log.warning("removing %s: created by an interrupted provision, never started", info.name)
            await runtime.stop_and_remove(info.id)
            continue
        try:
            engine = adopt_container(state, info, store)
        except PortConflict as error:
            log.error(
                "engine %s not adopted (its labels name no free port: %s); the reconciler removes it",
                info.name,
                error,
            )
            continue
        vpn = state.vpns.get(engine.slot.vpn)
        if not info.running:
            # Exited, restarting or paused: its restart policy may start it again on its port, so the port
            # stays held. Judged, not deleted: the health loop replaces it if it stays down.
            log.warning("engine %s is not running; adopted with its port held, marked unhealthy", info.name)
            engine.container_running = False
            engine.stopped_since = state.clock.monotonic()
            state.mark_unhealthy(engine)
        elif vpn is not None and engine.slot.vpn is not None and _namespace_lost(info, vpn):
            # Its gluetun was replaced or restarted while we were down: no network. Judged, not deleted.
            log.warning(
                "engine %s lost its network (its gluetun restarted or was replaced); marked unhealthy",
                info.name,
            )
            state.mark_unhealthy(engine)
        store.save_engine(engine)
        store.record_event(
            EventType.engine_adopted, f"found running on port {engine.host_http_port}", now, engine
        )
    for container_id in store.running_engine_ids() - set(state.engines):
        store.mark_engine_gone(container_id, "not running when the supervisor started", now)
    log.info("adopted %d engines and %d standbys", len(state.engines), len(state.standbys))


def _namespace_lost(info: ContainerInfo, vpn: VpnState) -> bool:
    if vpn.container_id is None:  # its gluetun is gone: an engine made in a namespace lost it
        return info.labels.get(label.VPN_CONTAINER_ID) is not None
    return namespace_lost(info.labels, vpn.container_id, vpn.started_at)


def hold_standby(state: StackState, info: ContainerInfo) -> Standby:
    """Hold a standby container found in Docker, on the slot its labels name (PortConflict otherwise)."""
    vpn = info.labels.get(label.VPN)
    try:
        host_port = int(info.labels[label.HOST_HTTP_PORT])
    except (KeyError, ValueError):
        raise PortConflict(f"its {label.HOST_HTTP_PORT} label is missing or not a port") from None
    slot = state.pool.reserve_host_port(vpn, host_port)
    gluetun = info.labels.get(label.VPN_CONTAINER_ID)
    network_mode = f"container:{gluetun}" if vpn is not None and gluetun else None
    standby = Standby(
        info.id, info.name, slot, dict(info.labels), network_mode, info.image_id, paused=info.paused
    )
    state.standbys[info.id] = standby
    return standby


def adopt_container(state: StackState, info: ContainerInfo, store: Store) -> Engine:
    """Hold a running engine container found in Docker, with the port its labels name (PortConflict when
    that port is outside the ranges or held); it joins the engine list and the store."""
    vpn = info.labels.get(label.VPN)
    try:
        host_port = int(info.labels[label.HOST_HTTP_PORT])
    except (KeyError, ValueError):
        raise PortConflict(f"its {label.HOST_HTTP_PORT} label is missing or not a port") from None
    slot = state.pool.reserve_host_port(vpn, host_port)
    now = state.clock.now()
    engine = Engine(
        container_id=info.id,
        container_name=info.name,
        slot=slot,
        vpn_container=info.labels.get(label.VPN_CONTAINER),
        vpn_container_id=info.labels.get(label.VPN_CONTAINER_ID),
        forwarded=info.labels.get(label.FORWARDED) == "true",
        labels=dict(info.labels),
        first_seen=store.first_seen(info.id) or now,
        last_seen=now,
        started_monotonic=state.clock.monotonic(),
        health_status=HealthStatus.unknown,
        ready=True,  # it ran before we did; the health loop judges it, readiness does not roll it back
        adopted=True,
        idle_since=state.clock.monotonic(),
        image_id=info.image_id,
    )
    state.engines[engine.container_id] = engine
    store.save_engine(engine)
    return engine
