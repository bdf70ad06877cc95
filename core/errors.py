"""The errors core raises. Every refused call raises one of these, with a message meant for people.

VoipAdminError
├── ValidationError   bad input; `.field` names the parameter (e.g. "mac", "admin_password")
├── PermissionDenied  the acting account may not touch this
└── NotFound          no such object (or not visible to the acting account)
"""

from __future__ import annotations


class VoipAdminError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationError(VoipAdminError):
    pass


class PermissionDenied(VoipAdminError):
    pass


class NotFound(VoipAdminError):
    pass
