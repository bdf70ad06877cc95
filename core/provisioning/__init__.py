"""The phone-facing HTTPS provisioning endpoint (see docs/PROVISIONING.md)."""

from __future__ import annotations

from core.provisioning.app import Limits, ProvisioningApp, build_app

__all__ = ["Limits", "ProvisioningApp", "build_app"]
