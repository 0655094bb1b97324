"""Paper accounts: spot balances (free/locked), USD-M wallet, order margin and positions.

Each API key gets one :class:`Account` the first time it is used, funded with the exchange's
starting balances. Views render the account endpoints of both markets.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ._market import FUTURES, PriceFeed, SymbolSpec, fmt

__all__ = [
    "Account",
    "futures_account_view",
    "futures_balance_view",
    "position_risk_view",
    "spot_account_view",
]

_ZERO = Decimal(0)
DEFAULT_LEVERAGE = 20


class Account:
    """Balances and positions of one API key on both markets."""

    __slots__ = ("fut_assets", "leverage", "order_margin", "positions", "spot", "update_time")

    def __init__(self, spot: dict[str, Decimal], futures: dict[str, Decimal], now: int) -> None:
        self.spot: dict[str, list[Decimal]] = {a: [v, _ZERO] for a, v in spot.items()}
        self.fut_assets: dict[str, Decimal] = dict(futures)
        self.order_margin = _ZERO
        # symbol -> [position amount (signed), entry price]
        self.positions: dict[str, list[Decimal]] = {}
        self.leverage: dict[str, int] = {}
        self.update_time = now

    def balance(self, asset: str) -> list[Decimal]:
        """``[free, locked]`` of a spot asset (created at zero)."""
        entry = self.spot.get(asset)
        if entry is None:
            entry = self.spot[asset] = [_ZERO, _ZERO]
        return entry

    def lever(self, symbol: str) -> int:
        """The leverage of ``symbol`` (default 20x)."""
        return self.leverage.get(symbol, DEFAULT_LEVERAGE)

    def position(self, symbol: str) -> list[Decimal]:
        """``[amount, entry price]`` of a USD-M position (created flat)."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = [_ZERO, _ZERO]
        return pos

    def unrealized(self, feed: PriceFeed) -> Decimal:
        """Unrealized PnL of every position at the current mark prices."""
        total = _ZERO
        for symbol, (amt, entry) in self.positions.items():
            if amt:
                total += amt * (feed.get(FUTURES, symbol) - entry)
        return total

    def position_margin(self, feed: PriceFeed) -> Decimal:
        """Initial margin of every open position."""
        total = _ZERO
        for symbol, (amt, _entry) in self.positions.items():
            if amt:
                total += abs(amt) * feed.get(FUTURES, symbol) / self.lever(symbol)
        return total

    def available(self, feed: PriceFeed) -> Decimal:
        """USD-M available balance: wallet + unrealized - position margin - order margin."""
        wallet = self.fut_assets.get("USDT", _ZERO)
        if not self.positions:
            return wallet - self.order_margin
        return (
            wallet + self.unrealized(feed) - self.position_margin(feed) - self.order_margin
        )


def spot_account_view(acct: Account, now: int) -> dict[str, Any]:
    """``GET /api/v3/account``."""
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": "0.00100000", "taker": "0.00100000",
                            "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": acct.update_time,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": fmt(free, 8), "locked": fmt(locked, 8)}
            for asset, (free, locked) in sorted(acct.spot.items())
        ],
        "permissions": ["SPOT"],
        "uid": 0,
    }


def futures_balance_view(acct: Account, feed: PriceFeed, now: int) -> list[dict[str, Any]]:
    """``GET /fapi/v2/balance``."""
    available = acct.available(feed)
    unrealized = acct.unrealized(feed)
    out = []
    for asset, wallet in sorted(acct.fut_assets.items()):
        usdt = asset == "USDT"
        avail = available if usdt else wallet
        out.append({
            "accountAlias": "paper",
            "asset": asset,
            "balance": fmt(wallet, 8),
            "crossWalletBalance": fmt(wallet, 8),
            "crossUnPnl": fmt(unrealized if usdt else _ZERO, 8),
            "availableBalance": fmt(avail, 8),
            "maxWithdrawAmount": fmt(max(avail, _ZERO), 8),
            "marginAvailable": True,
            "updateTime": now,
        })
    return out


def position_risk_view(
    acct: Account, feed: PriceFeed, specs: dict[str, SymbolSpec], symbol: str | None, now: int
) -> list[dict[str, Any]]:
    """``GET /fapi/v2/positionRisk``: one entry per symbol (flat ones included)."""
    out = []
    for sym in [symbol] if symbol else list(specs):
        amt, entry = acct.positions.get(sym, (_ZERO, _ZERO))
        mark = feed.get(FUTURES, sym)
        out.append({
            "symbol": sym,
            "positionAmt": fmt(amt, specs[sym].qty_places),
            "entryPrice": fmt(entry, 8),
            "breakEvenPrice": fmt(entry, 8),
            "markPrice": fmt(mark, 8),
            "unRealizedProfit": fmt(amt * (mark - entry), 8),
            "liquidationPrice": "0",
            "leverage": str(acct.lever(sym)),
            "maxNotionalValue": "1000000",
            "marginType": "cross",
            "isolatedMargin": "0.00000000",
            "isAutoAddMargin": "false",
            "positionSide": "BOTH",
            "notional": fmt(amt * mark, 8),
            "isolatedWallet": "0",
            "updateTime": now,
        })
    return out


def futures_account_view(
    acct: Account, feed: PriceFeed, specs: dict[str, SymbolSpec], now: int
) -> dict[str, Any]:
    """``GET /fapi/v2/account``."""
    wallet = acct.fut_assets.get("USDT", _ZERO)
    unrealized = acct.unrealized(feed)
    pos_margin = acct.position_margin(feed)
    available = acct.available(feed)
    totals = {
        "totalInitialMargin": pos_margin + acct.order_margin,
        "totalMaintMargin": pos_margin / 4,
        "totalWalletBalance": wallet,
        "totalUnrealizedProfit": unrealized,
        "totalMarginBalance": wallet + unrealized,
        "totalPositionInitialMargin": pos_margin,
        "totalOpenOrderInitialMargin": acct.order_margin,
        "totalCrossWalletBalance": wallet,
        "totalCrossUnPnl": unrealized,
        "availableBalance": available,
        "maxWithdrawAmount": max(available, _ZERO),
    }
    out: dict[str, Any] = {"feeTier": 0, "canTrade": True, "canDeposit": True,
                           "canWithdraw": True, "updateTime": 0}
    out.update({k: fmt(v, 8) for k, v in totals.items()})
    out["assets"] = [
        {"asset": b["asset"], "walletBalance": b["balance"], "unrealizedProfit": b["crossUnPnl"],
         "marginBalance": b["balance"], "maintMargin": "0.00000000",
         "initialMargin": fmt(acct.order_margin + pos_margin, 8) if b["asset"] == "USDT"
         else "0.00000000",
         "positionInitialMargin": fmt(pos_margin, 8) if b["asset"] == "USDT" else "0.00000000",
         "openOrderInitialMargin": fmt(acct.order_margin, 8) if b["asset"] == "USDT"
         else "0.00000000",
         "crossWalletBalance": b["crossWalletBalance"], "crossUnPnl": b["crossUnPnl"],
         "availableBalance": b["availableBalance"], "maxWithdrawAmount": b["maxWithdrawAmount"],
         "marginAvailable": True, "updateTime": now}
        for b in futures_balance_view(acct, feed, now)
    ]
    out["positions"] = [
        {"symbol": p["symbol"], "initialMargin": "0", "maintMargin": "0",
         "unrealizedProfit": p["unRealizedProfit"], "positionInitialMargin": "0",
         "openOrderInitialMargin": "0", "leverage": p["leverage"], "isolated": False,
         "entryPrice": p["entryPrice"], "breakEvenPrice": p["breakEvenPrice"],
         "maxNotional": p["maxNotionalValue"], "positionSide": "BOTH",
         "positionAmt": p["positionAmt"], "notional": p["notional"],
         "isolatedWallet": "0", "updateTime": now}
        for p in position_risk_view(acct, feed, specs, None, now)
    ]
    return out
