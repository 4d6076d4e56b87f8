"""VPN status from each gluetun's control server (X-API-Key): connected, and its forwarded port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from supervisor.attach import find_vpns
from supervisor.core import labels as label
from supervisor.core.events import EventType
from supervisor.core.offer import namespace_lost
from supervisor.errors import SupervisorError
from supervisor.probes import ProbeFailure, Probes
from supervisor.provisioning import Provisioner
from supervisor.runtime.base import DaemonUnreachable, Runtime
from supervisor.state import StackState, VpnState
from supervisor.streams import Streams

log = logging.getLogger("supervisor.vpn")


class VpnLoop:
    def __init__(
        self,
        state: StackState,
        runtime: Runtime,
        probes: Probes,
        provisioner: Provisioner,
        streams: Streams,
        refill: Callable[[], None] = lambda: None,
    ) -> None:
        self._state = state
        self._runtime = runtime
        self._probes = probes
        self._provisioner = provisioner
        self._streams = streams
        self._refill = refill  # starts replacements at once instead of at the next autoscale tick

    async def tick(self) -> None:
        if None in self._state.vpns:
            return
        try:
            await find_vpns(self._state, self._runtime)
        except DaemonUnreachable as error:
            self._state.docker_failed(str(error))
            log.warning("VPN check waits: the Docker daemon does not answer")
            return
        self._state.docker_answered()
        vpns = list(self._state.vpns.values())
        await asyncio.gather(*(self._check(vpn) for vpn in vpns))
        for key, vpn in self._state.vpns.items():
            # Level-triggered: every tick compares each engine with its VPN as it is now, so a removal
            # that failed is retried, and an engine made in the new namespace is never taken for a
            # stranded one.
            await self._replace_stranded(key, vpn)
            await self._follow_forwarded_port(vpn)

    async def _follow_forwarded_port(self, vpn: VpnState) -> None:
        """The forwarded port changed: the engine that used the old one as its P2P port is no longer the
        forwarded engine. Idle, it is replaced (its successor gets the new port); with streams, it keeps
        serving until they end, and the next engine made takes the new port."""
        if vpn.forwarded_port is None:
            return
        for engine in self._state.engines_on(vpn.service):
            if engine.forwarded and engine.labels.get(label.P2P_PORT) != str(vpn.forwarded_port):
                engine.forwarded = False
                self._provisioner.record(
                    EventType.forwarded_port_changed,
                    f"VPN {vpn.service} forwards {vpn.forwarded_port} now, "
                    f"not {engine.labels.get(label.P2P_PORT)}",
                    engine,
                )
                if not engine.streams:
                    with contextlib.suppress(SupervisorError):
                        await self._provisioner.remove(engine.container_id, "its forwarded port changed")
                self._refill()

    async def _replace_stranded(self, service: str | None, vpn: VpnState) -> None:
        """gluetun restarted or was recreated: engines in its old namespace have no network any more.
        Remove them (autoscale starts fresh ones in the new namespace)."""
        if vpn.container_id is None:
            return  # gluetun not found right now: its engines are withdrawn (vpn_down), not judged
        stranded = [
            engine
            for engine in self._state.engines_on(service)
            if namespace_lost(engine.labels, vpn.container_id, vpn.started_at)
        ]
        if stranded:
            log.warning(
                "VPN %s restarted; replacing its %d engines, which lost their network", service, len(stranded)
            )
        for engine in stranded:
            self._streams.end_on_engine(engine, "vpn_restarted")
        await asyncio.gather(
            *(
                self._provisioner.remove(engine.container_id, f"VPN {service} restarted")
                for engine in stranded
            ),
            return_exceptions=True,
        )
        if stranded:
            self._refill()

    async def _check(self, vpn: VpnState) -> None:
        settings = next(v for v in self._state.config.stack.vpns if v.service == vpn.service)
        was_connected = vpn.connected
        if vpn.address is None:
            vpn.status = "missing"
        else:
            try:
                report = await self._probes.vpn_report(
                    vpn.address,
                    settings.control_port,
                    self._state.config.vpn_api_keys[settings.service],
                    settings.port_forwarding,
                )
                vpn.status, vpn.forwarded_port = report.status, report.forwarded_port
                vpn.forwarded_ports = report.forwarded_ports
            except ProbeFailure as error:
                vpn.status = "unreachable"
                log.warning("VPN %s: %s", vpn.service, error)
        vpn.last_check = self._state.clock.now()
        if was_connected != vpn.connected:
            kind = EventType.vpn_up if vpn.connected else EventType.vpn_down
            self._provisioner.record(kind, f"VPN {vpn.service} is {vpn.status}")
            log.log(
                logging.INFO if vpn.connected else logging.WARNING,
                "VPN %s is now %s (%s)",
                vpn.service,
                "connected" if vpn.connected else "down",
                vpn.status,
            )
