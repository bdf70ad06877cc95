"""What the security and commands parts are rendered with (core/switch/security.py): the built-in registrar's
numbers and scanner list, from the same settings and the same place, in a file Kamailio accepts."""

from __future__ import annotations

import re

from core.settings import Settings
from core.sip.policy import SCANNER_UA_EXACT, SCANNER_UA_PARTS
from core.switch.kamailio_config import check_config, context_for, render_config
from core.switch.security import command_token, ere_alternatives, security_context
from tests.switch.conftest import HOST


def test_the_registrar_s_numbers_and_scanner_list_are_rendered(settings: Settings) -> None:
    s = settings.with_(switch="kamailio", sip_fail_threshold=7, sip_ban_seconds=120.0, sip_rate=50.0)
    text = render_config(context_for(s, HOST, 5097))
    check_config(text)
    assert "if ($var(sec_fails) >= 7) {" in text
    assert 'modparam("htable", "htable", "ban=>size=12;autoexpire=120;")' in text
    # the ban row's end, in the database's own terms (the PostgreSQL pass renders for PostgreSQL)
    until = "now() + interval '120 seconds'" if s.db_url.startswith("postgresql") else "datetime('now', '+120 seconds')"
    assert until in text
    assert 'modparam("pike", "reqs_density_per_unit", 400)' in text  # 50/s, bursts of 400 (8 s at 50/s)
    assert 'modparam("pike", "sampling_time_unit", 8)' in text
    parts, exact = re.findall(r'\$var\(sec_ua\) =~ "([^"]+)"', text)
    assert sorted(parts.split("|")) == sorted(SCANNER_UA_PARTS)  # policy's list, not a copy of it
    assert exact == f"^[[:space:]]*({'|'.join(sorted(SCANNER_UA_EXACT))})[[:space:]]*$"
    assert command_token(s) in text and len(command_token(s)) == 32


def test_no_rate_limit_leaves_pike_out(settings: Settings) -> None:
    text = render_config(context_for(settings.with_(switch="kamailio", sip_rate=0.0), HOST, 5096))
    assert 'loadmodule "pike.so"' not in text and "pike_check_req" not in text
    check_config(text)


def test_scanner_names_are_matched_as_literals() -> None:
    exact = re.compile(f"^({ere_alternatives(SCANNER_UA_EXACT)})$")
    assert all(exact.match(name) for name in SCANNER_UA_EXACT) and not exact.match("xlite")
    assert ere_alternatives(["a.b", "c|d", "(x)"]) == "[(]x[)]|a[.]b|c[|]d"
    parts = re.compile(ere_alternatives(["a.b"]))
    assert parts.search("xa.by") and not parts.search("axb")


def test_postgresql_gets_its_own_time_terms(settings: Settings) -> None:
    s = security_context(settings.with_(sip_ban_seconds=90.0), "postgres")
    assert (s.now_sql, s.ban_until_sql, s.ban_seconds) == ("now()", "now() + interval '90 seconds'", 90)
