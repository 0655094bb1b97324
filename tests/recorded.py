"""Real Binance answers, recorded in ccxt's static response tests (ccxt/ccxt
``ts/src/test/static/response/binance.json``: ``fetchMyTrades`` "Spot private trade" and "Swap
private trade", ``fetchOHLCV`` "Spot OHLCV with since and limit"): one copy for the tests that
parse them and the tests that compare the paper exchange's shapes with them.
"""

from __future__ import annotations

REAL_SPOT_TRADE = {
    "symbol": "LTCUSDT",
    "id": 309520010,
    "orderId": 3784695242,
    "orderListId": -1,
    "price": "69.63000000",
    "qty": "0.20000000",
    "quoteQty": "13.92600000",
    "commission": "0.01392600",
    "commissionAsset": "USDT",
    "time": 1698138992358,
    "isBuyer": False,
    "isMaker": False,
    "isBestMatch": True,
}
REAL_USDM_TRADE = {
    "symbol": "BTCUSDT",
    "id": 272536245,
    "orderId": 3524852987,
    "side": "BUY",
    "price": "36567.10",
    "qty": "0.010",
    "realizedPnl": "0",
    "marginAsset": "USDT",
    "quoteQty": "365.67100",
    "commission": "0.14626840",
    "commissionAsset": "USDT",
    "time": 1699972836419,
    "positionSide": "BOTH",
    "maker": False,
    "buyer": True,
}
REAL_SPOT_KLINE = [
    1706630400000,
    "43519.34000000",
    "43936.00000000",
    "43171.00000000",
    "43488.71000000",
    "20.55495000",
    1706633999999,
    "891428.42858070",
    3743,
    "10.91428000",
    "473782.95739920",
    "0",
]
