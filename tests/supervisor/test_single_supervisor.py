"""One supervisor per stack and daemon: a second refuses to start, naming the first; a lease whose holder
is gone is taken over; a clean stop gives the lease back."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest

from supervisor.core import lease
from supervisor.core.clock import ManualClock
from supervisor.lease import LeaseHeld
from supervisor.runtime.fake import FakeRuntime
from supervisor.service import Supervisor

pytestmark = pytest.mark.anyio

NAME = lease.lease_name("acestream-standalone")


def supervisor_for(config_for: Any, settings_for: Any, runtime: FakeRuntime) -> Supervisor:
    return Supervisor(config_for(settings_for("standalone")), runtime, ManualClock())


async def test_a_second_supervisor_refuses_while_the_first_container_runs_then_takes_over(
    config_for: Any, settings_for: Any, runtime: FakeRuntime
) -> None:
    first = runtime.add("acestream-standalone-supervisor-1", {})
    runtime.volumes[NAME] = {
        lease.HOLDER: "other-run",
        lease.CONTAINER: first,
        lease.SINCE: "2026-12-04T01:00",
    }
    second = supervisor_for(config_for, settings_for, runtime)
    with pytest.raises(LeaseHeld) as refusal:
        await second.start(loops=False)
    message = str(refusal.value)
    assert f"container {first[:12]}" in message and f"docker volume rm {NAME}" in message
    assert runtime.volumes[NAME][lease.HOLDER] == "other-run"  # nothing taken, nothing touched
    runtime.kill(first)  # the first one's container stopped: its lease is stale
    await second.start(loops=False)
    assert runtime.volumes[NAME][lease.HOLDER] != "other-run"
    await second.stop()
    assert NAME not in runtime.volumes  # given back on a clean stop


async def test_a_live_process_on_this_host_holds_the_lease_and_a_dead_one_does_not(
    config_for: Any, settings_for: Any, runtime: FakeRuntime
) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runtime.volumes[NAME] = {
            lease.HOLDER: "other-run",
            lease.HOST: socket.gethostname(),
            lease.PID: str(holder.pid),
        }
        supervisor = supervisor_for(config_for, settings_for, runtime)
        with pytest.raises(LeaseHeld, match=f"pid {holder.pid} on host"):
            await supervisor.start(loops=False)
    finally:
        holder.kill()
        holder.wait()
    await supervisor.start(loops=False)  # its holder died without giving it back (SIGKILL)
    await supervisor.stop()


async def test_a_lease_held_from_another_host_is_never_taken_over(
    config_for: Any, settings_for: Any, runtime: FakeRuntime
) -> None:
    runtime.volumes[NAME] = {lease.HOLDER: "other-run", lease.HOST: "elsewhere", lease.PID: "1"}
    with pytest.raises(LeaseHeld, match="pid 1 on host elsewhere"):
        await supervisor_for(config_for, settings_for, runtime).start(loops=False)


def test_the_verdicts() -> None:
    me = lease.Me("mine", "h", 10, None)
    assert (
        lease.judge({lease.HOLDER: "mine"}, me, container_running=None, pid_alive=None) is lease.Verdict.ours
    )
    in_container = lease.Me("mine", "abc", 1, "c1")
    restarted = {lease.HOLDER: "old", lease.CONTAINER: "c1"}
    assert lease.judge(restarted, in_container, container_running=True, pid_alive=None) is lease.Verdict.stale
    same_process = {lease.HOLDER: "old", lease.HOST: "h", lease.PID: "10"}
    assert lease.judge(same_process, me, container_running=None, pid_alive=True) is lease.Verdict.stale
    assert lease.judge({}, me, container_running=None, pid_alive=None) is lease.Verdict.stale
