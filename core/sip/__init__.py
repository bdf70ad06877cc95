"""The built-in SIP registrar: sans-I/O message, digest and registrar layers, an asyncio shell.

See docs/SIP.md. `run_sip` (core.sip.service) is what `python -m core serve` starts.
"""
