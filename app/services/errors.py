"""Domain errors: raised by services, translated into a page, JSON problem or SCIM error at the door."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Something the user can fix or must know; never a bug. ``status`` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class PermissionDenied(DomainError):
    status = 403

    def __init__(self, message: str = "Your role does not allow this."):
        super().__init__(message)


class ValidationFailed(DomainError):
    """Input broke a rule; ``field_errors`` maps form field names to messages."""

    status = 400

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.field_errors = field_errors or {}


@dataclass
class Change:
    """One field someone else changed since the form was loaded."""

    who: str
    when: str
    field: str
    before: object
    after: object


class StaleEdit(DomainError):
    """The record changed after the form was loaded; nothing was saved."""

    status = 409

    def __init__(self, what: str, changes: list[Change] | None = None):
        super().__init__(
            f"{what} was changed by someone else after you opened this form. Nothing was saved: "
            "review their changes below, then make yours again."
        )
        self.changes = list(changes or [])
