"""The sandbox market's data: a deterministic stream of trade-like records.

Trade ``i`` (id ``i + 1``) happens at ``origin_ms + i * trade_interval_ms`` and its
fields are a pure function of (seed, symbol, i), so the same request always returns
the same records and a test can compute what a slot must contain without asking the
server (``expected_records``). Nothing is materialised: a page computes only its rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypedDict

# 2024-01-01T00:00:00Z: the first trade. Windows before it are empty.
DEFAULT_ORIGIN_MS = 1_704_067_200_000
VENUES: tuple[tuple[str, str], ...] = (("XBIN", "eu"), ("XCBX", "us"), ("XKRK", "eu"), ("XOKX", "asia"))
_EIGHT = Decimal("0.00000001")


class Venue(TypedDict):
    code: str
    region: str


class Trade(TypedDict):
    id: int
    symbol: str
    price: str
    qty: str
    quote_qty: str
    time: int
    is_buyer_maker: bool
    venue: Venue


@dataclass(frozen=True)
class MarketConfig:
    # Trades a request without a time window sees (and the cap for an open-ended one).
    records: int = 1000
    trade_interval_ms: int = 1000
    origin_ms: int = DEFAULT_ORIGIN_MS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.records < 0:
            raise ValueError(f"records must be 0 or more, got {self.records}")
        if self.trade_interval_ms < 1:
            raise ValueError(f"trade_interval_ms must be at least 1, got {self.trade_interval_ms}")


def _index_at_or_after(market: MarketConfig, time_ms: int) -> int:
    """The first trade index whose time is >= time_ms (never below 0)."""
    offset = time_ms - market.origin_ms
    return max(0, -(-offset // market.trade_interval_ms))


def window(market: MarketConfig, start_ms: int | None, end_ms: int | None) -> range:
    """Trade indexes in ``[start_ms, end_ms)``; no window means the first ``records`` trades."""
    first = 0 if start_ms is None else _index_at_or_after(market, start_ms)
    if end_ms is None:
        return range(first, first + market.records)
    return range(first, max(first, _index_at_or_after(market, end_ms)))


def trade(market: MarketConfig, symbol: str, index: int) -> Trade:
    digest = hashlib.blake2b(f"{market.seed}:{symbol}:{index}".encode(), digest_size=16).digest()
    h1, h2, h3 = (int.from_bytes(digest[i : i + 5], "big") for i in (0, 5, 10))
    price = (Decimal(60_000_00000000 + h1 % 10_000_00000000) * _EIGHT).quantize(_EIGHT)
    qty = (Decimal(1 + h2 % 2_00000000) * _EIGHT).quantize(_EIGHT)
    code, region = VENUES[h3 % len(VENUES)]
    return {
        "id": index + 1,
        "symbol": symbol,
        "price": str(price),
        "qty": str(qty),
        "quote_qty": str((price * qty).quantize(_EIGHT)),
        "time": market.origin_ms + index * market.trade_interval_ms,
        "is_buyer_maker": bool(digest[15] & 1),
        "venue": {"code": code, "region": region},
    }


def trades(market: MarketConfig, symbol: str, indexes: range) -> list[Trade]:
    return [trade(market, symbol, i) for i in indexes]


def _ms(moment: datetime | int | None) -> int | None:
    if moment is None or isinstance(moment, int):
        return moment
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no timezone; pass an aware datetime")
    return round(moment.astimezone(UTC).timestamp() * 1000)


def expected_records(
    market: MarketConfig,
    start: datetime | int | None = None,
    end: datetime | int | None = None,
    symbol: str = "BTCUSDT",
) -> list[Trade]:
    """Exactly the records the sandbox serves for ``start_time=start&end_time=end``
    (datetimes or epoch ms), across all pages, in order."""
    return trades(market, symbol, window(market, _ms(start), _ms(end)))
