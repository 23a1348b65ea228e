"""Domain errors of the hub, mapped to HTTP statuses by the API and the pages."""

from __future__ import annotations


class NotFound(Exception):
    """Does not exist for this caller (→ 404). Never says whether it exists elsewhere."""


class ServiceError(ValueError):
    """Bad input to a service (→ 400), with a message fit for the user."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
