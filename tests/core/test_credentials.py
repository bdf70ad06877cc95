import pytest

from core import credentials
from core.errors import ValidationError


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("00041345C9BF", "00041345C9BF"),
        ("00:04:13:45:c9:bf", "00041345C9BF"),
        ("00-04-13-45-C9-BF", "00041345C9BF"),
        ("0004.1345.c9bf", "00041345C9BF"),
        (" 00 04 13 45 C9 BF ", "00041345C9BF"),
        ("", None),
        (None, None),
    ],
)
def test_mac_is_normalised(raw, expected):
    assert credentials.normalize_mac(raw) == expected


@pytest.mark.parametrize(
    "raw", ["00041345C9B", "00041345C9BFA", "00041345C9BG", "000000000000", "xx", "00:04:13:45:c9"]
)
def test_bad_mac_is_refused_naming_the_field(raw):
    with pytest.raises(ValidationError) as err:
        credentials.normalize_mac(raw)
    assert err.value.field == "mac"


@pytest.mark.parametrize("raw", ["1234", "123456789", "0000"])
def test_device_password_accepts_4_to_9_digits(raw):
    assert credentials.device_password(raw, "admin_password") == (raw, False)


@pytest.mark.parametrize("raw", ["123", "1234567890", "12a4", "12 34", "abcd"])
def test_device_password_refuses_others(raw):
    with pytest.raises(ValidationError) as err:
        credentials.device_password(raw, "user_password")
    assert err.value.field == "user_password"


@pytest.mark.parametrize("raw", ["", None, "   "])
def test_empty_device_password_is_generated_40_digits(raw):
    password, generated = credentials.device_password(raw, "admin_password")
    assert generated and len(password) == 40 and password.isdigit()
    assert password != credentials.device_password(raw, "admin_password")[0]


def test_access_key_is_48_lowercase_hex_and_unique():
    keys = {credentials.new_access_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(credentials.is_access_key(k) for k in keys)
    assert not credentials.is_access_key("A" * 48)
    assert not credentials.is_access_key("a" * 47)


def test_find_mac_in_user_agents():
    assert credentials.find_mac("Yealink SIP-T46U 108.86.0.90 80:5e:c0:11:22:33") == "805EC0112233"
    assert (
        credentials.find_mac("Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 000413922D24 SXM:0)") == "000413922D24"
    )
    assert credentials.find_mac("curl/8.0") is None


@pytest.mark.parametrize("state", ["no", "once", "done", "ONCE"])
def test_provisioning_mac_states(state):
    assert credentials.provisioning_mac_state(state) == state.lower()


def test_provisioning_mac_bad_state():
    with pytest.raises(ValidationError) as err:
        credentials.provisioning_mac_state("twice")
    assert err.value.field == "provisioning_mac"


def test_sip_password_rules():
    generated, was_generated = credentials.sip_password(None)
    assert was_generated and len(generated) == 24 and generated.isalnum()
    assert credentials.sip_password("Str0ngEnough!x") == ("Str0ngEnough!x", False)
    for bad in ("short", "has space inside", 'quote"inside12'):
        with pytest.raises(ValidationError):
            credentials.sip_password(bad)
