"""Dependencies the controllers receive by name."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from supervisor.service import Supervisor


def provide_supervisor(state: State) -> Supervisor:
    supervisor: Supervisor = state.supervisor
    return supervisor


DEPENDENCIES = {"supervisor": Provide(provide_supervisor, sync_to_thread=False)}

# How controllers ask for it: `supervisor: SupervisorDependency`.
SupervisorDependency = NamedDependency[Supervisor]
