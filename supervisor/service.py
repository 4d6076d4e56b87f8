"""The supervisor as one object: state, runtime, store and loops wired together, started and stopped.

`start` attaches and reconciles before anything is served; `stop` ends the loops and closes clients but
leaves every engine running (the next start adopts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from supervisor.acquire import Acquirer
from supervisor.attach import adopt_engines, find_project, find_vpns
from supervisor.core.capacity import ProvisioningBlocked, choose_vpn
from supervisor.core.clock import Clock, SystemClock
from supervisor.core.events import EventType
from supervisor.lease import Lease
from supervisor.loops.cache import CacheLoop
from supervisor.loops.health import HealthLoop
from supervisor.loops.image import ImageLoop
from supervisor.loops.readiness import Readiness
from supervisor.loops.stream_check import StreamCheckLoop
from supervisor.loops.ticker import run_every
from supervisor.loops.vpn import VpnLoop
from supervisor.metrics import Metrics
from supervisor.probes import HttpProbes, Probes
from supervisor.provisioning import Provisioner
from supervisor.reconciler import Reconciler
from supervisor.runtime.base import Runtime
from supervisor.settings import Config
from supervisor.state import StackState
from supervisor.store import Store
from supervisor.streams import Streams

log = logging.getLogger("supervisor")
DATABASE_CHECK_S = 5.0  # how often the database file is checked for being deleted or replaced


class Supervisor:
    def __init__(
        self, config: Config, runtime: Runtime, clock: Clock | None = None, probes: Probes | None = None
    ):
        self.config = config
        self.runtime = runtime
        self.clock = clock or SystemClock()
        self.probes = probes or HttpProbes()
        self.state = StackState.create(config, self.clock)
        self.lease = Lease(runtime, config.stack.stack, self.clock, config.env.project)
        self.metrics = Metrics()
        self.store = Store(config.env.db_path, on_event=self.metrics.count_event)
        self.provisioner = Provisioner(self.state, runtime, self.store, self.metrics)
        self.provisioner.engine_answers = self.probes.engine_answers
        self.readiness = Readiness(self.state, self.probes, self.provisioner, self.metrics)
        self.acquirer = Acquirer(self.state, self.provisioner, self.readiness, self.store)
        self.health = HealthLoop(self.state, self.probes, self.provisioner)
        self.streams = Streams(self.state, self.store, started=self._stream_started)
        self.stream_check = StreamCheckLoop(self.state, self.probes, self.streams, on_stale=self.scale_soon)
        self.reconciler = Reconciler(
            self.state, runtime, self.store, self.provisioner, on_vpn_event=self.check_vpns_soon
        )
        self.image = ImageLoop(self.state, runtime, self.provisioner, self.reconciler.kick)
        self.vpn = VpnLoop(self.state, runtime, self.probes, self.provisioner, self.reconciler.kick)
        self.cache = CacheLoop(self.state, runtime, self.metrics, over=self.reconciler.kick)
        self._tasks: list[asyncio.Task[None]] = []

    def _stream_started(self, engine_id: str, key: str) -> None:
        self.acquirer.stream_started(engine_id, key)

    async def start(self, loops: bool = True) -> None:
        await self.lease.acquire()  # before anything is touched: a second supervisor refuses here
        await find_project(self.state, self.runtime)
        await find_vpns(self.state, self.runtime)
        await self.image.tick(pull=False)  # a quick check before any engine is made or judged
        await adopt_engines(self.state, self.runtime, self.store)
        self.streams.restore()
        await self.vpn.tick()
        await self._pass_now()  # the first pass: stranded engines replaced, orphans judged, min reached
        if loops:
            self._start_loops()

    def _start_loops(self) -> None:
        timings = self.config.stack.timings
        schedule = [
            ("readiness", self.config.env.readiness_interval_s, self.readiness.tick),
            ("health", timings.health_check_interval_s, self.health.tick),
            ("vpn", timings.vpn_check_interval_s, self.vpn.tick),
            ("stream_check", timings.health_check_interval_s, self.stream_check.tick),
            ("image", timings.image_check_interval_s, self.image.tick),
            ("cache", timings.cache_check_interval_s, self.cache.tick),
            ("database", DATABASE_CHECK_S, self.check_database),
        ]
        for name, interval, tick in schedule:
            self._tasks.append(asyncio.create_task(run_every(name, interval, self.clock, tick), name=name))
        self._tasks.append(asyncio.create_task(self.reconciler.watch(), name="docker-events"))
        self._tasks.append(asyncio.create_task(self._reconcile_forever(), name="reconciler"))
        self._tasks.append(asyncio.create_task(self._pull_now(), name="image-pull"))
        self._tasks.append(asyncio.create_task(self._measure_now(), name="cache-first"))

    async def _pull_now(self) -> None:
        """The first pull, in the background: a slow registry must not hold the start-up."""
        try:
            await self.image.tick()
        except Exception:
            log.exception("image pull failed; the image loop retries")

    async def _measure_now(self) -> None:
        """The first cache pass, in the background: Docker's size walk must not hold the start-up."""
        try:
            await self.cache.tick()
        except Exception:
            log.exception("cache pass failed; the cache loop retries")

    async def _reconcile_forever(self) -> None:
        await self.reconciler.run()

    async def check_database(self) -> None:
        """A database file deleted or replaced under us would silently lose every stream: write it again."""
        if self.store.ensure_file():
            log.error(
                "the database %s was deleted or replaced while the supervisor ran; wrote it again from "
                "memory (%d engines, their active streams; the ended history is lost)",
                self.config.env.db_path,
                len(self.state.engines),
            )
            self.provisioner.record(EventType.database_rewritten, f"{self.config.env.db_path} written again")

    async def _pass_now(self) -> None:
        try:
            await self.reconciler.tick()
        except Exception:
            log.exception("reconcile pass failed; the reconciler retries")

    def scale_soon(self) -> None:
        """A reconcile pass soon (after an API change: POST /scale, a provision, a stream event)."""
        self.reconciler.kick()

    def check_vpns_soon(self) -> None:
        """A gluetun container started, died or vanished: check the VPNs now, not at the next tick."""
        self._tasks = [task for task in self._tasks if not task.done()]
        self._tasks.append(asyncio.create_task(self._vpn_now(), name="vpn-now"))

    async def _vpn_now(self) -> None:
        try:
            await self.vpn.tick()
        except Exception:
            log.exception("VPN check failed; the VPN loop retries")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        try:
            await self.lease.release()
        except Exception as error:  # a daemon gone at shutdown: the next start takes the stale lease over
            log.warning("could not release the lease %s: %s", self.lease.name, error)
        await self.probes.close()
        await self.runtime.close()
        self.store.close()
        log.info("supervisor stopped; %d engines left running", len(self.state.engines))

    def blocked(self) -> ProvisioningBlocked | None:
        """Why a provision would be refused right now, or None."""
        try:
            choose_vpn(self.state.provision_inputs())
        except ProvisioningBlocked as refusal:
            return refusal
        return None
