"""VPN status from each gluetun's control server (X-API-Key): connected, and its forwarded port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from supervisor.attach import find_vpns
from supervisor.core import labels as label
from supervisor.core.events import EventType
from supervisor.core.reconcile import DrainReason
from supervisor.probes import ProbeFailure, Probes
from supervisor.provisioning import Provisioner
from supervisor.runtime.base import DaemonUnreachable, Runtime
from supervisor.state import StackState, VpnState

log = logging.getLogger("supervisor.vpn")


class VpnLoop:
    """Observes the VPNs (their containers, gluetun's own status and forwarded ports) and tells the
    reconciler, which acts: engines stranded in an old namespace are replaced, a VPN down past its restart
    timeout is restarted, a failed VPN's engines drain while another is connected."""

    def __init__(
        self,
        state: StackState,
        runtime: Runtime,
        probes: Probes,
        provisioner: Provisioner,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._state = state
        self._runtime = runtime
        self._probes = probes
        self._provisioner = provisioner
        self._changed = changed  # a reconcile pass now instead of at the next tick

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
        for vpn in self._state.vpns.values():
            self._follow_forwarded_port(vpn)
        self._changed()

    def _follow_forwarded_port(self, vpn: VpnState) -> None:
        """The forwarded port changed: the engine that used the old one as its P2P port is no longer the
        forwarded engine and drains (offered to nobody, removed once idle); the next engine made on this
        VPN takes the new port."""
        if vpn.forwarded_port is None:
            return
        for engine in self._state.engines_on(vpn.service):
            if engine.forwarded and engine.labels.get(label.P2P_PORT) != str(vpn.forwarded_port):
                engine.forwarded = False
                engine.draining = str(DrainReason.forwarded_port_changed)
                self._provisioner.record(
                    EventType.forwarded_port_changed,
                    f"VPN {vpn.service} forwards {vpn.forwarded_port} now, "
                    f"not {engine.labels.get(label.P2P_PORT)}: the old engine drains",
                    engine,
                )

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
                vpn.public_ip = report.public_ip if report.status == "running" else None
            except ProbeFailure as error:
                vpn.status, vpn.public_ip = "unreachable", None
                log.warning("VPN %s: %s", vpn.service, error)
        vpn.last_check = self._state.clock.now()
        vpn.observed(self._state.clock.monotonic())
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
