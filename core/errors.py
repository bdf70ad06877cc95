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

from collections.abc import Callable
from typing import Any, TypeVar

from core.messages import english

T = TypeVar("T")


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


class Problems:
    """Where a rule's refusal goes: raised at once (a single use case, `collect=False`), or kept so
    that one pass lists every refusal (a bulk import's dry run, core.device_import)."""

    def __init__(self, collect: bool = False) -> None:
        self.collect = collect
        self.errors: list[ValidationError] = []

    def add(self, error: ValidationError) -> None:
        if not self.collect:
            raise error
        self.errors.append(error)

    def check(self, rule: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`rule(*args)`'s result; on a refusal None (collecting) or the refusal raised."""
        try:
            return rule(*args, **kwargs)
        except ValidationError as error:
            self.add(error)
            return None
