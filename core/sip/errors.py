"""Errors of the SIP side.

SipError
└── SipParseError     the peer sent bytes that are not a SIP message; `status_hint` is the reply code
"""

from __future__ import annotations


class SipError(Exception):
    pass


class SipParseError(SipError):
    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint
