"""Issue 15.1: one Via parser in core/sip (grammar.parse_via); the scanner tells read the Via through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.sip.grammar import parse_via
from core.sip.message import SipRequest, parse
from core.sip.policy import scanner_tell

CORE = Path(__file__).resolve().parents[2] / "core"


def _register(via: str) -> SipRequest:
    raw = (
        f"REGISTER sip:pbx.test SIP/2.0\r\n{via}\r\nFrom: <sip:100@pbx.test>;tag=a\r\nTo: <sip:100@pbx.test>\r\n"
        "Call-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse(raw.encode())
    assert isinstance(msg, SipRequest)
    return msg


@pytest.mark.parametrize(
    "via",
    [
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-3141592653;rport",
        "v: SIP/2.0/UDP 10.0.0.9:5060 ; Branch = z9hG4bK-1",  # compact name, spaces, a parameter's case
        "Via: SIP/2.0/UDP 10.0.0.9:5060;rport;branch=z9hG4bK-42, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKok",
    ],
)
def test_a_sipvicious_branch_on_the_top_via_is_a_tell(via):
    assert scanner_tell(_register(via)) == "sipvicious Via branch"


@pytest.mark.parametrize(
    "via",
    [
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKa1b2;rport",
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-12x",  # digits only, as sipvicious writes it
        "Via: SIP/2.0/UDP 10.0.0.9:5060;x-branch=z9hG4bK-1",  # another parameter holding the value
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKok, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-42",  # not the top one
    ],
)
def test_other_branches_are_not(via):
    assert parse_via(_register(via).get("Via") or "") is not None
    assert scanner_tell(_register(via)) is None


def test_only_the_grammar_has_a_via_regex():
    """A pattern reading a Via (its sent-protocol or its branch parameter) outside grammar.py is a second parser."""
    found = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("compile", "match", "search"):
                pattern = node.args[0] if node.args else None
                if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str):
                    if "SIP\\s*/" in pattern.value or "SIP/2.0/" in pattern.value or "branch=" in pattern.value:
                        found.append(path.relative_to(CORE.parent).as_posix())
    assert found == ["core/sip/grammar.py"]
