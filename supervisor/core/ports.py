"""The port pool: which engine slot (HTTP, HTTPS, P2P ports together) each VPN still has free.

Reservation is synchronous and the supervisor runs on one event loop, so a reservation can never be
interleaved with another: two provisions can never get one port, without a lock held across Docker calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from supervisor.core.changes import CountedDict, CountedSet
from supervisor.stack_settings import (
    STANDALONE_CONTAINER_HTTP_PORT,
    STANDALONE_CONTAINER_HTTPS_PORT,
    STANDALONE_CONTAINER_P2P_PORT,
    StackSettings,
)

VpnKey = str | None  # a gluetun compose service, or None for standalone

# How long a slot whose host port another program held is skipped before it is tried again.
PORT_QUARANTINE_S = 300.0
# Slots one provision request tries when host ports turn out to be held, before it gives up.
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Slot:
    """The ports one engine uses. In VPN modes `host_http == http` (published 1:1 on the gluetun)."""

    vpn: VpnKey
    index: int
    host_http: int
    http: int
    https: int
    p2p: int


class PortConflict(Exception):
    """A port asked for by an adopted engine is outside the pool or already held."""


class PortPool:
    def __init__(self, settings: StackSettings) -> None:
        self._slots: dict[VpnKey, list[Slot]] = {}
        if settings.standalone_http is not None:
            self._slots[None] = [
                Slot(
                    None,
                    index,
                    port,
                    STANDALONE_CONTAINER_HTTP_PORT,
                    STANDALONE_CONTAINER_HTTPS_PORT,
                    STANDALONE_CONTAINER_P2P_PORT,
                )
                for index, port in enumerate(settings.standalone_http.ports())
            ]
        for vpn in settings.vpns:
            ranges = vpn.engine_ports
            self._slots[vpn.service] = [
                Slot(vpn.service, index, http, http, https, p2p)
                for index, (http, https, p2p) in enumerate(
                    zip(ranges.http.ports(), ranges.https.ports(), ranges.p2p.ports(), strict=True)
                )
            ]
        # Counted containers: a slot taken, freed or quarantined is a change of the status (core/changes.py).
        self._taken: dict[VpnKey, set[int]] = {key: CountedSet() for key in self._slots}
        # Slots whose host port something else held when an engine tried it: index -> when it may be tried
        # again. A bad port is skipped meanwhile, so it cannot fail provision after provision.
        self._quarantined: dict[VpnKey, dict[int, float]] = {key: CountedDict() for key in self._slots}

    @property
    def vpns(self) -> list[VpnKey]:
        return list(self._slots)

    def size(self, vpn: VpnKey) -> int:
        return len(self._slots[vpn])

    def used(self, vpn: VpnKey) -> int:
        return len(self._taken[vpn])

    def free(self, vpn: VpnKey, now: float | None = None) -> int:
        """Slots that could be handed out (at `now`, quarantined ones excepted)."""
        blocked = 0 if now is None else len(self._blocked(vpn, now) - self._taken[vpn])
        return self.size(vpn) - self.used(vpn) - blocked

    def _blocked(self, vpn: VpnKey, now: float) -> set[int]:
        return {index for index, until in self._quarantined[vpn].items() if until > now}

    def quarantine(self, slot: Slot, until: float) -> None:
        """Skip this slot until `until` (its host port was held by another program)."""
        self._quarantined[slot.vpn][slot.index] = until

    def quarantined(self, now: float) -> dict[VpnKey, list[int]]:
        """The host ports each VPN skips right now."""
        return {
            vpn: sorted(self._slots[vpn][index].host_http for index in self._blocked(vpn, now))
            for vpn in self._slots
            if self._blocked(vpn, now)
        }

    def reserve(self, vpn: VpnKey, now: float | None = None) -> Slot | None:
        """The lowest free slot of this VPN not in quarantine, now held; None when there is none."""
        taken = self._taken[vpn]
        blocked = set() if now is None else self._blocked(vpn, now)
        for slot in self._slots[vpn]:
            if slot.index not in taken and slot.index not in blocked:
                taken.add(slot.index)
                return slot
        return None

    def reserve_host_port(self, vpn: VpnKey, host_http: int) -> Slot:
        """Hold the slot whose published port is `host_http` (adopting an engine found running)."""
        if vpn not in self._slots:
            raise PortConflict(f"VPN {vpn!r} is not in this stack's settings")
        for slot in self._slots[vpn]:
            if slot.host_http == host_http:
                if slot.index in self._taken[vpn]:
                    raise PortConflict(f"port {host_http} of VPN {vpn!r} is already held by another engine")
                self._taken[vpn].add(slot.index)
                return slot
        raise PortConflict(f"port {host_http} is outside the engine range of VPN {vpn!r}")

    def slot_free(self, vpn: VpnKey, host_http: str | int | None) -> bool:
        """Whether an engine labelled with this VPN and published port could be held: the port is in the
        VPN's current range and no engine holds it."""
        if vpn not in self._slots:
            return False
        try:
            port = int(host_http) if host_http is not None else None
        except ValueError:
            return False
        return any(s.host_http == port and s.index not in self._taken[vpn] for s in self._slots[vpn])

    def release(self, slot: Slot) -> None:
        self._taken[slot.vpn].discard(slot.index)
