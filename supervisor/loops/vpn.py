"""VPN status from each gluetun's control server (X-API-Key): connected, and its forwarded port."""

from __future__ import annotations

import asyncio
import logging

from supervisor.attach import find_vpns
from supervisor.probes import ProbeFailure, Probes
from supervisor.runtime.base import Runtime
from supervisor.state import StackState, VpnState

log = logging.getLogger("supervisor.vpn")


class VpnLoop:
    def __init__(self, state: StackState, runtime: Runtime, probes: Probes) -> None:
        self._state = state
        self._runtime = runtime
        self._probes = probes

    async def tick(self) -> None:
        if None in self._state.vpns:
            return
        await find_vpns(self._state, self._runtime)  # a recreated gluetun gets a new container id
        vpns = list(self._state.vpns.values())
        await asyncio.gather(*(self._check(vpn) for vpn in vpns))

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
            except ProbeFailure as error:
                vpn.status = "unreachable"
                log.warning("VPN %s: %s", vpn.service, error)
        vpn.last_check = self._state.clock.now()
        if was_connected != vpn.connected:
            log.warning(
                "VPN %s is now %s (%s)", vpn.service, "connected" if vpn.connected else "down", vpn.status
            )
