"""The errors core raises. Every refused call raises one of these, with a stable code and parameters.

VoipAdminError
├── ValidationError   bad input; `.field` names the parameter (e.g. "mac", "admin_password")
├── PermissionDenied  the acting account may not touch this
└── NotFound          no such object (or not visible to the acting account)

`code` is a key of core.messages.MESSAGES and `params` fill its placeholders; `.message` is the
English text (CLI, logs), while the dashboard says the code in the reader's language
(dashboard/error_texts.py). Params never hold secrets: they are shown to whoever made the call.
"""

from __future__ import annotations

from typing import Any

from core.messages import english


class VoipAdminError(Exception):
    field: str | None = None

    def __init__(self, code: str, field: str | None = None, **params: Any) -> None:
        self.code = code
        self.params = params
        self.message = english(code, params)
        super().__init__(self.message)
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
