"""Container runtimes behind one small protocol: Docker for real, an in-memory fake for tests."""

from supervisor.runtime.base import ContainerInfo, ContainerSpec, PublishedPort, Runtime, RuntimeFailure

__all__ = ["ContainerInfo", "ContainerSpec", "PublishedPort", "Runtime", "RuntimeFailure"]
