"""TopStop's rate table and periods: the longest prefix wins, billing steps and rounding up to the cent,
a broken file refused by prefix and field, and where a day or a month starts in the provider's time zone."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.topstop import rates
from core.topstop.periods import period_start
from core.topstop.rates import RatesError, parse

TABLE = {
    "currency": "EUR",
    "rates": {
        "": {"per_minute": "1.20", "setup": "0.20"},
        "00": {"per_minute": "0.90"},
        "0041": {"per_minute": "0.08"},
        "00417": {"per_minute": "0.30"},
        "0041900": {"per_minute": "2.50", "setup": "0.50"},
        "0": {"per_minute": "0.05"},
    },
}


@pytest.mark.parametrize(
    ("dialled", "prefix"),
    [
        ("0041791234567", "00417"),  # mobile beats Switzerland
        ("+41 79 123 45 67", "00417"),  # "+" is "00", spaces dropped
        ("sip:+41900123456@pstn.example;user=phone", "0041900"),  # a URI's user part
        ("0041215550101", "0041"),
        ("0086123456", "00"),  # another country: the international rate
        ("0215550101", "0"),  # national
        ("1234", ""),  # nothing longer matches: every other destination
        ("", ""),
    ],
)
def test_the_longest_prefix_wins(dialled, prefix):
    assert parse(TABLE).rate_for(dialled).prefix == prefix


def test_a_call_costs_setup_plus_its_billed_time_rounded_up_to_the_cent():
    table = parse(TABLE)
    assert table.cost_cents("0041791234567", 61) == 31  # 0.30 x 61/60 = 0.305 -> 0.31 (never down)
    assert table.cost_cents("0041215550101", 60) == 8
    assert table.cost_cents("0041215550101", 1) == 1  # 0.0013 -> one cent
    assert table.cost_cents("0041900123", 0) == 50  # answered and hung up at once: the setup
    assert table.cost_cents("0041900123", 120) == 550
    assert table.cost_cents("0041900123", 300, answered=False) == 0  # never answered: free
    assert table.cost_cents("1234", 30) == 80  # 0.20 + 0.60


def test_a_billing_increment_rounds_the_answered_time_up_to_its_steps():
    table = parse({**TABLE, "increment": 60})
    assert table.billed_seconds(1) == table.billed_seconds(60) == 60
    assert table.billed_seconds(61) == 120
    assert table.billed_seconds(0) == 0
    assert table.cost_cents("0041791234567", 61) == 60  # two started minutes at 0.30


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"rates": {41: {"per_minute": "0.1"}, "": {"per_minute": "1"}}}, "prefix 41 must be quoted digits"),
        ({"rates": {"0041": {"per_minute": "0.1"}}}, 'the "" entry (every other destination) is missing'),
        ({"rates": {"": {"per_minute": "cheap"}}}, "prefix ''.per_minute: a price is a decimal number, got 'cheap'"),
        ({"rates": {"": {"per_minute": "-1"}}}, "at least 0"),
        ({"rates": {"": {"setup": "1"}}}, "prefix ''.per_minute: missing"),
        ({"rates": {"": {"per_minute": "1", "per_call": "1"}}}, "unknown field 'per_call'"),
        ({"rates": {"+41": {"per_minute": "1"}, "": {"per_minute": "1"}}}, "prefix '+41' must be quoted digits"),
        ({"currency": "euro"}, "currency must be an ISO 4217 code"),
        ({"increment": 0}, "increment must be whole seconds"),
    ],
)
def test_a_broken_table_is_refused_naming_the_prefix_and_field(change, words):
    with pytest.raises(RatesError) as err:
        parse({**TABLE, **change}, "rates.yaml")
    assert words in str(err.value) and str(err.value).startswith("rates.yaml: ")


def test_the_repo_rate_file_loads_and_an_edit_is_read_at_the_next_call(tmp_path):
    shipped = rates.load()
    assert shipped.currency == "EUR" and "" in shipped.rates
    assert shipped.rate_for("+41900123456").per_minute == Decimal("2.50")
    mine = tmp_path / "rates.yaml"
    mine.write_text('currency: CHF\nrates:\n  "": {per_minute: "1.00"}\n')
    assert rates.current(mine).currency == "CHF"
    mine.write_text('currency: CHF\nrates:\n  "": {per_minute: "2.00"}\n  "0041": {per_minute: "0.10"}\n')
    os.utime(mine, ns=(1, mine.stat().st_mtime_ns + 1_000_000))  # a second edit within the clock's tick
    assert rates.current(mine).rate_for("0041").per_minute == Decimal("0.10")


@pytest.mark.parametrize(
    ("period", "now", "start"),
    [
        ("day", datetime(2026, 12, 7, 22, 59, tzinfo=UTC), datetime(2026, 12, 6, 23, 0, tzinfo=UTC)),
        (
            "day",
            datetime(2026, 12, 7, 23, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 23, 0, tzinfo=UTC),
        ),  # Zurich's midnight
        ("day", datetime(2026, 7, 1, 12, 0, tzinfo=UTC), datetime(2026, 6, 30, 22, 0, tzinfo=UTC)),  # summer time
        ("month", datetime(2026, 12, 7, 12, 0, tzinfo=UTC), datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
        ("month", datetime(2026, 3, 31, 22, 30, tzinfo=UTC), datetime(2026, 3, 31, 22, 0, tzinfo=UTC)),  # 1 April, CEST
        ("month", datetime(2026, 3, 31, 21, 30, tzinfo=UTC), datetime(2026, 2, 28, 23, 0, tzinfo=UTC)),
    ],
)
def test_a_period_starts_at_the_providers_local_midnight(period, now, start):
    assert period_start(period, now, "Europe/Zurich") == start


def test_a_rate_file_setting_naming_no_file_is_refused_naming_the_variable(tmp_path):
    from core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="VOIPADMIN_RATES_FILE"):
        Settings.from_env({"VOIPADMIN_DATA_DIR": str(tmp_path), "VOIPADMIN_RATES_FILE": str(tmp_path / "nope.yaml")})
