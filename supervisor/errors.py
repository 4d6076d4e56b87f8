"""Domain errors the API maps to HTTP statuses in one place (supervisor/api/errors.py)."""

from __future__ import annotations


class SupervisorError(Exception):
    """Base: the message says what went wrong and what to do."""


class NotFound(SupervisorError):
    pass


class InvalidInput(SupervisorError):
    """Input that passed type checks but makes no sense here; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class PortTaken(SupervisorError):
    pass


class ProvisionFailed(SupervisorError):
    """The runtime could not start the engine, or it never became ready; nothing is left behind."""
