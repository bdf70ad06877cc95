"""core.login_throttle: the dashboard login's attempt counter, driven by an injected clock."""

from __future__ import annotations

import pytest

from core.login_throttle import Limits, LoginThrottle, limits_from_settings, source_key
from core.settings import Settings, SettingsError

T0 = 1_000.0


def test_an_account_name_gets_so_many_attempts_per_window_then_waits_it_out():
    th = LoginThrottle(Limits(per_account=3, per_source=100, window=60))
    assert [th.attempt("10.0.0.1", "support", T0 + i) for i in range(3)] == [0, 0, 0]
    assert th.attempt("10.0.0.1", "support", T0 + 3) == 57  # the window began with the first attempt
    assert th.attempt("10.0.0.9", "support", T0 + 4) == 56  # from anywhere: it is the account's count
    assert th.attempt("10.0.0.1", "support", T0 + 59.5) == 1
    assert th.attempt("10.0.0.1", "support", T0 + 60) == 0  # refused attempts were not counted
    assert th.attempt("10.0.0.1", "other", T0 + 5) == 0  # other names are not affected


def test_a_source_gets_so_many_attempts_per_window_whatever_the_names():
    th = LoginThrottle(Limits(per_account=100, per_source=4, window=60))
    assert [th.attempt("10.0.0.1", f"guess{i}", T0) for i in range(4)] == [0, 0, 0, 0]
    assert th.attempt("10.0.0.1", "fresh-name", T0 + 1) == 59
    assert th.attempt("10.0.0.2", "fresh-name", T0 + 1) == 0  # another source is not throttled


def test_a_success_forgives_the_account_and_only_its_own_attempt_at_the_source():
    th = LoginThrottle(Limits(per_account=3, per_source=4, window=60))
    for _ in range(3):
        th.attempt("10.0.0.1", "support", T0)  # two failures, then the right password
    th.succeeded("10.0.0.1", "support")
    assert th.attempt("10.0.0.1", "support", T0 + 1) == 0  # the account starts again...
    assert th.attempt("10.0.0.1", "x", T0 + 1) == 0  # ...the source holds 2 failures + these 2 attempts
    assert th.attempt("10.0.0.1", "y", T0 + 1) == 59


def test_the_throttle_cannot_tell_known_from_unknown_names():
    """It never sees the database: a name that is no account is counted and refused exactly alike."""
    th = LoginThrottle(Limits(per_account=2, per_source=100, window=60))
    answers = {name: [th.attempt("10.0.0.1", name, T0) for _ in range(3)] for name in ("support", "nobody")}
    assert answers["support"] == answers["nobody"] == [0, 0, 60]


def test_memory_stays_bounded_under_a_flood_of_names_and_sources():
    th = LoginThrottle(Limits(per_account=5, per_source=5, window=60, max_entries=1000))
    for i in range(20_000):
        th.attempt(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", f"user{i}", T0)
    assert th.sizes() == (1000, 1000)
    for _ in range(5):
        th.attempt("192.0.2.1", "support", T0)
    assert th.attempt("192.0.2.1", "support", T0) == 60  # the most recent names are the ones kept


def test_long_names_are_counted_by_their_prefix():
    th = LoginThrottle(Limits(per_account=1, per_source=100, window=60))
    th.attempt("10.0.0.1", "a" * 5000, T0)
    assert th.attempt("10.0.0.1", "a" * 4000, T0) == 60


@pytest.mark.parametrize(
    "address,key",
    [("192.0.2.7", "192.0.2.7"), ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
     ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"), ("::ffff:192.0.2.7", "192.0.2.7"), (None, "?"),
     ("testclient", "testclient")],
)  # fmt: skip
def test_sources_are_addresses_and_ipv6_hosts_their_64(address, key):
    assert source_key(address) == key


def test_limits_come_from_constants_with_environment_overrides():
    assert limits_from_settings(Settings.from_env({})) == Limits()
    env = {"VOIPADMIN_LOGIN_MAX_PER_ACCOUNT": "3", "VOIPADMIN_LOGIN_MAX_PER_SOURCE": "7",
           "VOIPADMIN_LOGIN_WINDOW_SECONDS": "5"}  # fmt: skip
    assert limits_from_settings(Settings.from_env(env)) == Limits(per_account=3, per_source=7, window=5)


@pytest.mark.parametrize("raw", ["0", "-1", "ten", "1e3"])
def test_bad_overrides_name_the_variable(raw):
    with pytest.raises(SettingsError, match="VOIPADMIN_LOGIN_WINDOW_SECONDS"):
        Settings.from_env({"VOIPADMIN_LOGIN_WINDOW_SECONDS": raw})
