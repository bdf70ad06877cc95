"""The rate table: a dialled number -> its price (data/rates.yaml, or VOIPADMIN_RATES_FILE).

Prices are Decimal while computing and whole cents once a call is priced: each call's cost is rounded
up to the cent, so the spend of a period is an exact sum of integers on every database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.settings import ROOT

DEFAULT_PATH = ROOT / "data" / "rates.yaml"
_PREFIX = re.compile(r"\d{0,20}")
_CURRENCY = re.compile(r"[A-Z]{3}")
CENT = Decimal("0.01")


class RatesError(ValueError):
    """The rate file is wrong; the message names the prefix and the field."""


@dataclass(frozen=True)
class Rate:
    prefix: str
    per_minute: Decimal
    setup: Decimal
    name: str = ""


@dataclass(frozen=True)
class RateTable:
    currency: str
    increment: int  # seconds: the answered time is billed in steps of this
    rates: Mapping[str, Rate]  # prefix -> rate; "" always present
    longest: int  # the longest prefix's length (the lookup tries no more digits than that)

    def rate_for(self, dialled: str) -> Rate:
        """The rate of the longest prefix of the dialled number ("" when none longer matches)."""
        digits = normalize(dialled)
        for n in range(min(len(digits), self.longest), -1, -1):
            rate = self.rates.get(digits[:n])
            if rate is not None:
                return rate
        return self.rates[""]  # unreachable: "" is checked at load

    def billed_seconds(self, seconds: int) -> int:
        """The answered time rounded up to the billing increment."""
        return math.ceil(max(seconds, 0) / self.increment) * self.increment

    def cost_cents(self, dialled: str, seconds: int, answered: bool = True) -> int:
        """What one call costs, in cents, rounded up: setup + per minute x billed time. Unanswered: 0."""
        if not answered:
            return 0
        rate = self.rate_for(dialled)
        cost = rate.setup + rate.per_minute * Decimal(self.billed_seconds(seconds)) / 60
        return int((cost / CENT).to_integral_value(rounding=ROUND_CEILING))


def normalize(dialled: str) -> str:
    """The digits the table is matched on: the user part of a URI, "+" read as "00", other non-digits dropped."""
    text = (dialled or "").strip()
    if ":" in text:  # sip:0041...@host
        text = text.split(":", 1)[1]
    text = text.split("@", 1)[0].split(";", 1)[0]
    lead = "00" if text.startswith("+") else ""
    return lead + re.sub(r"\D", "", text)


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RatesError(f"{where}: a price is a decimal number, got {value!r}")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise RatesError(f"{where}: a price is a decimal number, got {value!r}") from None
    if not price.is_finite() or price < 0:
        raise RatesError(f"{where}: a price is a decimal number of at least 0, got {value!r}")
    return price


def parse(data: Any, origin: str = "rates") -> RateTable:
    """A rate table from the YAML document's data; every refusal names the prefix and the field."""
    if not isinstance(data, dict):
        raise RatesError(f"{origin}: a mapping with currency, increment and rates")
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise RatesError(f"{origin}: currency must be an ISO 4217 code such as EUR, got {currency!r}")
    increment = data.get("increment", 1)
    if isinstance(increment, bool) or not isinstance(increment, int) or not 1 <= increment <= 3600:
        raise RatesError(f"{origin}: increment must be whole seconds (1-3600), got {increment!r}")
    entries = data.get("rates")
    if not isinstance(entries, dict) or not entries:
        raise RatesError(f"{origin}: rates must map prefixes to prices")
    rates: dict[str, Rate] = {}
    for prefix, entry in entries.items():
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise RatesError(f'{origin}: prefix {prefix!r} must be quoted digits ("0041"), or "" for the rest')
        where = f"{origin}: prefix {prefix!r}"
        if not isinstance(entry, dict):
            raise RatesError(f"{where}: per_minute and setup prices")
        unknown = set(entry) - {"per_minute", "setup", "name"}
        if unknown:
            raise RatesError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        if "per_minute" not in entry:
            raise RatesError(f"{where}.per_minute: missing")
        rates[prefix] = Rate(prefix, _price(entry["per_minute"], f"{where}.per_minute"),
                             _price(entry.get("setup", 0), f"{where}.setup"), str(entry.get("name") or ""))  # fmt: skip
    if "" not in rates:
        raise RatesError(f'{origin}: the "" entry (every other destination) is missing: no call is free by omission')
    return RateTable(currency, increment, rates, max(len(p) for p in rates))


def load(path: Path | None = None) -> RateTable:
    path = path or DEFAULT_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RatesError(f"{path}: {exc}") from None
    return parse(data, str(path))


@lru_cache(maxsize=4)
def _cached(path: Path, mtime_ns: int) -> RateTable:
    return load(path)


def current(path: Path | None = None) -> RateTable:
    """The table as the file says now: an edit is read at the next call (keyed by the file's mtime)."""
    path = path or DEFAULT_PATH
    return _cached(path, path.stat().st_mtime_ns)
