"""Holding the stack's lease (a labelled Docker volume) for as long as this supervisor runs.

A volume name is unique on a daemon, so creating it is atomic: of two supervisors starting together,
one creates it and the other reads the first one's labels. A lease whose holder is gone (its container
stopped, its process dead) is taken over; one whose holder runs makes this supervisor refuse to start.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from supervisor.core import labels as label
from supervisor.core import lease
from supervisor.core.clock import Clock
from supervisor.runtime.base import Runtime

log = logging.getLogger("supervisor.lease")


class LeaseHeld(Exception):
    """Another supervisor runs on this stack and daemon; the message names it."""


class Lease:
    def __init__(self, runtime: Runtime, stack: str, clock: Clock, project: str | None = None) -> None:
        self._runtime = runtime
        self._stack = stack
        self._project = project or stack  # labelled, so a clean-up by compose project finds it
        self._clock = clock
        self.name = lease.lease_name(stack)
        self._token = uuid.uuid4().hex
        self._held = False

    async def acquire(self) -> None:
        """Hold the lease, taking a stale one over; LeaseHeld when another supervisor runs."""
        me = await self._me()
        labels = {
            lease.HOLDER: me.token,
            lease.HOST: me.host,
            lease.PID: str(me.pid),
            lease.SINCE: self._clock.now().isoformat(),
            **({lease.CONTAINER: me.container} if me.container else {}),
            label.STACK: self._stack,
            label.COMPOSE_PROJECT: self._project,
        }
        for _ in range(2):
            found = await self._runtime.claim_volume(self.name, labels)
            verdict = await self._judge(found, me)
            if verdict is lease.Verdict.ours:
                self._held = True
                return
            if verdict is lease.Verdict.held:
                raise LeaseHeld(
                    f"another supervisor already runs stack {self._stack} on this Docker daemon "
                    f"({lease.describe(found)}); stop it first. If it is gone for good, remove its lease: "
                    f"docker volume rm {self.name}"
                )
            log.warning("taking over the lease of a supervisor that is gone (%s)", lease.describe(found))
            await self._runtime.remove_volume(self.name)
        raise LeaseHeld(f"could not take over the lease {self.name}: another supervisor took it meanwhile")

    async def release(self) -> None:
        if self._held:
            self._held = False
            await self._runtime.remove_volume(self.name)

    async def _me(self) -> lease.Me:
        host = socket.gethostname()
        own = await self._runtime.inspect(host)  # in a container, the host name is its id
        return lease.Me(self._token, host, os.getpid(), own.id if own else None)

    async def _judge(self, labels: dict[str, str], me: lease.Me) -> lease.Verdict:
        container_running = None
        holder = labels.get(lease.CONTAINER)
        if holder and holder != me.container:
            info = await self._runtime.inspect(holder)
            container_running = info is not None and info.running
        pid_alive = None
        if labels.get(lease.HOST) == me.host and labels.get(lease.PID, "").isdigit():
            pid_alive = _pid_alive(int(labels[lease.PID]))
        return lease.judge(labels, me, container_running=container_running, pid_alive=pid_alive)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True
