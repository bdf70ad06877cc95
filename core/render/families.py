"""The per-family file tables, as data: read from the catalogue's `families:` section.

Which files a firmware asks for, their syntax and the template answering each are catalogue
entries (data/catalogue.yaml, validated by core/catalogue.py); nothing vendor-specific is here.
`FAMILIES` is the shipped catalogue's table, for callers (tests, tools) that want it by id.
"""

from __future__ import annotations

from core.catalogue import TEXT, XML, Family, FileSpec, default_catalogue

FamilySpec = Family  # the name callers used when the tables were Python

FAMILIES: dict[str, Family] = default_catalogue().families

__all__ = ["FAMILIES", "TEXT", "XML", "FamilySpec", "FileSpec"]
