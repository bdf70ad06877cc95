"""The voipadmin side of bench/switch/run.py: our database, seeded, and the config `python -m core switch
config` renders for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def prepare(
    work: Path, db: str, pg: str, port: int, users: list[tuple[str, str]], domain: str
) -> tuple[str, Callable[[], int]]:
    raise SystemExit("the switch base is not merged yet: run with --aa")
