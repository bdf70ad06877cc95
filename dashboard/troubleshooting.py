"""The "Résoudre les problèmes" help (pages/help.py): docs/troubleshooting/<lang>.md cut into one section
per diagnosis finding. A section starts at a `## Title {#code}` heading, the code being
core.diagnosis's finding code (the page's `?code=` and its anchor). The sections a support agent starts from,
what the user says, come first: `start_here` and the `symptom_...` codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting"
HEADING = re.compile(r"^## (?P<title>.+?) \{#(?P<code>[a-z_]+)\}\s*$", re.M)


@dataclass(frozen=True)
class Section:
    code: str
    title: str
    body: str  # markdown

    @property
    def by_symptom(self) -> bool:
        """Starts from what the user says (the phone does not fetch...), not from a diagnosis finding."""
        return self.code == "start_here" or self.code.startswith("symptom_")


@dataclass(frozen=True)
class Help:
    intro: str  # what comes before the first section, its "# " title left out
    sections: tuple[Section, ...]

    def get(self, code: str | None) -> Section | None:
        return next((s for s in self.sections if s.code == code), None)


def parse(text: str) -> Help:
    heads = list(HEADING.finditer(text))
    intro = text[: heads[0].start()] if heads else text
    intro = "\n".join(line for line in intro.splitlines() if not line.startswith("# ")).strip()
    sections = tuple(
        Section(h.group("code"), h.group("title"), text[h.end() : nxt.start() if nxt else len(text)].strip())
        for h, nxt in zip(heads, [*heads[1:], None], strict=True)
    )
    return Help(intro, sections)


@cache  # the files ship with the code: read once per process
def troubleshooting(lang: str) -> Help:
    return parse((DOCS / f"{'fr' if lang == 'fr' else 'en'}.md").read_text(encoding="utf-8"))
