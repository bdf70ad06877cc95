"""The phone-facing HTTPS provisioning endpoint (see docs/PROVISIONING.md).

Kept empty on purpose: importing one submodule (paths, throttle, wal_watch...) must not load the
whole WSGI app. The app is `core.provisioning.app`.
"""
