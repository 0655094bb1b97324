"""Session settings: the frozen :class:`SessionConfig`, and ``connect()``'s arguments -> it.

Credentials are never part of a config (nor of any repr); they are resolved separately, from the
arguments or ``TOOLKIT_API_KEY``/``TOOLKIT_API_SECRET``.

Example::

    >>> make_config("binance", market="usdm", testnet=True, store=":memory:").base_url
    'https://testnet.binancefuture.com'
    >>> make_config("binance", market="usdm", demo=True, store=":memory:").base_url
    'https://demo-fapi.binance.com'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..binance._venues import BINANCE_VENUES, LIVE_HOSTS, venue_name
from ..core._exceptions import ConfigError
from ..core._guards import DEFAULT_LIMITS, Limits
from ..core._models import Market
from ..store._store import DEFAULT_RETENTION_DAYS, retention_from_days

__all__ = ["DEFAULT_STORE", "SessionConfig", "credentials", "make_config"]


#: The store file when neither ``store=`` nor ``TOOLKIT_STORE`` is given.
DEFAULT_STORE = "toolkit.duckdb"
_EXCHANGES = ("paper", "binance")


@dataclass(frozen=True)
class SessionConfig:
    """The settings of one session (a frozen value object; credentials are never part of it).

    Two ``connect()`` calls with equal settings (and keys) return the same session.

    Example::

        SessionConfig(exchange="binance", market=Market.USDM, testnet=True,
                      base_url="https://demo-fapi.binance.com", store="/data/toolkit.duckdb")
    """

    #: ``"paper"`` or ``"binance"`` (the frame's ``exchange`` column).
    exchange: str = "paper"
    market: Market = Market.SPOT
    #: Where requests go; ``None`` means the embedded paper exchange of this process.
    base_url: str | None = None
    testnet: bool = False
    #: Binance Demo Mode (``demo-api.binance.com`` / ``demo-fapi.binance.com``).
    demo: bool = False
    #: Real money: Binance's live trading hosts. Needs ``live=True`` on ``connect`` (or
    #: ``TOOLKIT_LIVE=1`` for scheduled jobs); said in plain sight in reprs and the panel.
    live: bool = False
    #: The DuckDB file (absolute) or ``":memory:"``.
    store: str = "toolkit.duckdb"
    #: Order requests in flight at once.
    concurrency: int = 16
    #: Connections the HTTP connector may hold.
    connection_limit: int = 32
    #: Seconds for one HTTP request.
    timeout: float = 10.0
    #: Binance's ``recvWindow`` in seconds: a request older than this is refused by the exchange.
    recv_window: float = 5.0
    #: Seconds after the write-ahead during which an order may still be sent (then never).
    send_window: float = 30.0
    #: Batches with at least this many orders show a progress bar (unless ``progress=False``).
    progress_threshold: int = 50
    #: Seconds between two polls in ``wait()``.
    poll_interval: float = 0.5
    #: Keep order states live from the exchange's user-data stream (polling where there is none).
    stream: bool = True
    #: Honour the exchange's rate limits on the client side (weight/order budgets). ``False``
    #: is for benchmarks against a server without limits; a 429/418 ``Retry-After`` is still
    #: obeyed.
    rate_limits: bool = True
    #: Seconds a fetched price stays good for sizing and checking market orders (a batch of
    #: market orders then costs no prices request when the last one is this recent). Prices
    #: move, but sizing by ``quote_qty`` / ``qty_pct`` and the notional checks tolerate a few
    #: seconds; ``0`` fetches for every batch.
    price_ttl: float = 2.0
    #: Seconds the exchange's symbol rules (exchangeInfo filters) stay cached; they are fetched
    #: again at once when the exchange refuses an order for a filter.
    rules_ttl: float = 300.0
    #: Pre-trade limits (``tk.Limits``): order and batch caps, the price band. The same on the
    #: paper exchange as live, so what a user tests is what goes live.
    limits: Limits = DEFAULT_LIMITS
    #: Fetch the account's fills (after a batch that filled something) and a positions
    #: snapshot into the store in the background, :data:`FILLS_DELAY` seconds after the last
    #: batch (never on a batch's critical path).
    sync_fills: bool = True
    #: Days after its creation and last change that a final order (filled, canceled, expired,
    #: rejected, invalid; of a batch whose orders are all final) leaves the store's journal,
    #: once the DuckDB file holds it: ``tk.orders()`` then reads it there, and the journal
    #: keeps its id. Bounds the journal. ``0``: at the next hourly pass (an update about an
    #: archived order is not recorded); ``None``: never.
    journal_days: float | None = DEFAULT_RETENTION_DAYS

    def __post_init__(self) -> None:
        object.__setattr__(self, "market", Market(self.market))
        retention_from_days(self.journal_days)  # (ConfigError now, not at the first batch)


def make_config(
    exchange: str = "paper",
    *,
    market: Market | str = Market.SPOT,
    store: str | os.PathLike[str] | None = None,
    testnet: bool = False,
    demo: bool = False,
    base_url: str | None = None,
    live: bool = False,
    **settings: Any,
) -> SessionConfig:
    """The :class:`SessionConfig` for ``connect()``'s arguments (env defaults applied).

    ``testnet=True`` means Binance's testnets on both markets (spot ``testnet.binance.vision``,
    USD-M ``testnet.binancefuture.com``); ``demo=True`` means Demo Mode (``demo-api`` /
    ``demo-fapi.binance.com``). Each has its own keys; asking for both is an error.
    """
    if testnet and demo:
        raise ConfigError("testnet=True and demo=True name two different venues; pick one")
    exchange = str(exchange).lower()
    if exchange not in _EXCHANGES:
        raise ConfigError(f"unknown exchange {exchange!r}; expected one of {_EXCHANGES}")
    try:
        mkt = Market(str(getattr(market, "value", market)).lower())
    except ValueError:
        raise ConfigError(f"unknown market {market!r}; expected 'spot' or 'usdm'") from None
    path = os.fspath(store) if store is not None else os.environ.get("TOOLKIT_STORE")
    path = path or DEFAULT_STORE
    if path != ":memory:":
        path = os.path.abspath(os.path.expanduser(path))
    url = base_url.rstrip("/") if base_url else None
    if exchange == "binance" and url is None:
        url = BINANCE_VENUES[(venue_name(testnet=testnet, demo=demo), mkt)].rest
    real = exchange == "binance" and url in LIVE_HOSTS
    allowed = bool(live) or os.environ.get("TOOLKIT_LIVE", "") == "1"
    if real and not allowed:
        raise ConfigError(
            f"{url} is Binance's live trading host: real money. Say so with"
            " connect('binance', live=True), or set TOOLKIT_LIVE=1 for a scheduled job;"
            " practise first with testnet=True or demo=True, or the paper exchange"
        )
    return SessionConfig(
        exchange=exchange, market=mkt, base_url=url, testnet=bool(testnet), demo=bool(demo),
        live=real, store=path, **settings,
    )


def credentials(
    config: SessionConfig, api_key: str | None, api_secret: str | None
) -> tuple[str | None, str | None]:
    if config.base_url is None:  # the embedded paper exchange makes its own key
        return None, None
    key = api_key or os.environ.get("TOOLKIT_API_KEY") or None
    secret = api_secret or os.environ.get("TOOLKIT_API_SECRET") or None
    if not key or not secret:
        where = config.base_url
        raise ConfigError(
            f"{config.exchange} at {where} needs an API key and secret: pass api_key= and "
            "api_secret=, or set TOOLKIT_API_KEY and TOOLKIT_API_SECRET"
        )
    return key, secret
