"""Every file in pages/ starts with the guard: its first statement after the imports is require_login()."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).resolve().parents[2] / "pages").glob("*.py"))


def test_there_are_pages():
    assert {p.stem for p in PAGES} >= {"home", "phones", "keys", "status", "fraud"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_first_statement_is_the_guard(page: Path):
    body = [n for n in ast.parse(page.read_text()).body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    first = body[1] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body[0]
    assert isinstance(first, ast.Assign) and isinstance(first.value, ast.Call)
    assert getattr(first.value.func, "id", None) == "require_login"
    imports = [n for n in ast.parse(page.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all("sqlalchemy" not in ast.dump(n) for n in imports)  # pages run no SQL
