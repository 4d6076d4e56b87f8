"""One supervisor per stack and daemon: whether the lease someone holds is ours, stale, or another's.

Pure: the lease's labels and what is known about its holder in, a verdict out. Two supervisors on one
stack would hand out the same ports and delete each other's containers, so the second refuses to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from supervisor.core.labels import PREFIX

HOLDER = f"{PREFIX}.lease.holder"  # a token unique to one run of one supervisor
HOST = f"{PREFIX}.lease.host"  # the holder's host name
PID = f"{PREFIX}.lease.pid"
CONTAINER = f"{PREFIX}.lease.container"  # the holder's own container id, when it runs in one
SINCE = f"{PREFIX}.lease.since"  # RFC 3339


def lease_name(stack: str) -> str:
    """The Docker volume whose labels are the lease (a volume name is unique per daemon)."""
    return f"{stack}-supervisor-lease"


@dataclass(frozen=True)
class Me:
    token: str
    host: str
    pid: int
    container: str | None


class Verdict(StrEnum):
    ours = "ours"
    stale = "stale"  # its holder is gone: take it over
    held = "held"  # another supervisor runs: refuse to start


def judge(
    labels: Mapping[str, str], me: Me, *, container_running: bool | None, pid_alive: bool | None
) -> Verdict:
    """`container_running`: whether the holder's container runs (None: it named none, or it is ours);
    `pid_alive`: whether its pid runs on this host (None: another host, or no pid)."""
    if labels.get(HOLDER) == me.token:
        return Verdict.ours
    holder_container = labels.get(CONTAINER)
    if holder_container:
        if me.container is not None and holder_container == me.container:
            return Verdict.stale  # an earlier run of this very container (restarted after a crash)
        return Verdict.held if container_running else Verdict.stale
    if labels.get(HOST) == me.host and me.container is None:
        if labels.get(PID) == str(me.pid):
            return Verdict.stale  # an earlier run in this very process
        return Verdict.held if pid_alive else Verdict.stale
    if HOLDER not in labels:
        return Verdict.stale  # not a lease of ours at all: nothing holds it
    return Verdict.held  # another host, or a process we cannot see from here: assume it runs


def describe(labels: Mapping[str, str]) -> str:
    """The holder, as the refusal names it."""
    where = (
        f"container {labels[CONTAINER][:12]}"
        if labels.get(CONTAINER)
        else f"pid {labels.get(PID, '?')} on host {labels.get(HOST, '?')}"
    )
    return f"{where}, since {labels.get(SINCE, '?')}"
