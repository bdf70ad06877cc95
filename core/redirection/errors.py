"""Redirection-service errors.

RedirectionError
├── AuthFailed           the service refused our credentials (401/403); retrying will not help
├── DeviceClaimed        the MAC belongs to another account at the vendor
└── ServiceUnavailable   network error, timeout, 5xx or 429; worth retrying later
"""

from __future__ import annotations


class RedirectionError(Exception):
    retry = False


class AuthFailed(RedirectionError):
    pass


class DeviceClaimed(RedirectionError):
    pass


class ServiceUnavailable(RedirectionError):
    retry = True
