"""Where Binance lives: every venue's REST, WebSocket Streams and WebSocket API hosts, the
live hosts that move real money, and the user-data paths (listen keys, the WebSocket API).

Example::

    >>> venue_for("https://fapi.binance.com").name
    'live'
    >>> stream_url("https://fapi.binance.com", Market.USDM)
    'wss://fstream.binance.com/private'
    >>> ws_api_url("http://127.0.0.1:8765")
    'ws://127.0.0.1:8765/ws-api/v3'
"""

from __future__ import annotations

from dataclasses import dataclass

from yarl import URL

from ..core._models import Market

__all__ = [
    "BINANCE_VENUES",
    "LISTEN_KEY_PATHS",
    "LIVE_HOSTS",
    "SUBSCRIBE_METHOD",
    "WS_API_PATH",
    "BinanceVenue",
    "stream_url",
    "venue_for",
    "venue_name",
    "ws_api_url",
]


@dataclass(frozen=True)
class BinanceVenue:
    """Where one Binance venue lives for one market (a frozen value object).

    ``rest`` is the REST base URL, ``stream`` the WebSocket Streams host (USD-M user data:
    ``<stream>/ws/<listenKey>``), ``ws_api`` the spot WebSocket API (user data since the spot
    listen keys were retired on 2026-02-20); ``None`` where the toolkit does not use one.
    """

    name: str
    market: Market
    rest: str
    stream: str
    ws_api: str | None = None


#: Every Binance venue by (name, market): ``live``, the ``testnet`` (separate keys) and
#: ``demo`` (Demo Mode, separate keys). Checked 2026-11-30 against Binance's spot docs
#: (rest-api.md, web-socket-api.md, testnet/ and demo-mode/general-info.md), the USD-M "General
#: Info" page and ccxt 4.5.90's ``urls`` (test and demo). USD-M user data moved to the
#: ``/private`` route of the stream hosts (Binance announcement of 2026-03-06, legacy URLs
#: retired 2026-04-23; as implemented in ccxt/go-binance PR #809, tested on testnet and demo).
BINANCE_VENUES: dict[tuple[str, Market], BinanceVenue] = {
    (venue.name, venue.market): venue
    for venue in (
        BinanceVenue("live", Market.SPOT, "https://api.binance.com",
                     "wss://stream.binance.com:9443", "wss://ws-api.binance.com:443/ws-api/v3"),
        BinanceVenue("live", Market.USDM, "https://fapi.binance.com",
                     "wss://fstream.binance.com/private"),
        BinanceVenue("testnet", Market.SPOT, "https://testnet.binance.vision",
                     "wss://stream.testnet.binance.vision",
                     "wss://ws-api.testnet.binance.vision/ws-api/v3"),
        BinanceVenue("testnet", Market.USDM, "https://testnet.binancefuture.com",
                     "wss://fstream.binancefuture.com/private"),
        BinanceVenue("demo", Market.SPOT, "https://demo-api.binance.com",
                     "wss://demo-stream.binance.com", "wss://demo-ws-api.binance.com/ws-api/v3"),
        BinanceVenue("demo", Market.USDM, "https://demo-fapi.binance.com",
                     "wss://fstream.binancefuture.com/private"),
    )
}



def venue_for(base_url: str) -> BinanceVenue | None:
    """The Binance venue whose REST base is ``base_url`` (``None``: another server)."""
    url = base_url.rstrip("/")
    return next((v for v in BINANCE_VENUES.values() if v.rest == url), None)


#: Binance's live trading hosts (REST), which need ``live=True``.
LIVE_HOSTS = frozenset(v.rest for (name, _), v in BINANCE_VENUES.items() if name == "live")


def venue_name(*, testnet: bool, demo: bool) -> str:
    """``"demo"``, ``"testnet"`` or ``"live"``."""
    return "demo" if demo else "testnet" if testnet else "live"


#: Listen-key endpoint per market (POST creates, PUT keeps alive, DELETE closes). Spot has none
#: since 2026-02-20: it subscribes over the WebSocket API instead.
LISTEN_KEY_PATHS: dict[Market, str] = {
    Market.USDM: "/fapi/v1/listenKey",
}
#: The WebSocket API method that subscribes to the user-data stream (signed).
SUBSCRIBE_METHOD = "userDataStream.subscribe.signature"
#: The WebSocket API's path on a host that is not a known Binance venue (the paper exchange).
WS_API_PATH = "/ws-api/v3"


def stream_url(base_url: str, market: Market) -> str:
    """The WebSocket base for ``base_url``'s user-data stream (``/ws/<listenKey>`` goes after it).

    Example::

        >>> stream_url("https://fapi.binance.com", Market.USDM)
        'wss://fstream.binance.com/private'
        >>> stream_url("http://127.0.0.1:8765", Market.SPOT)
        'ws://127.0.0.1:8765'
    """
    venue = venue_for(base_url)
    if venue is not None:
        return venue.stream
    return _same_host(base_url)


def ws_api_url(base_url: str) -> str:
    """The spot WebSocket API URL that goes with the REST base ``base_url``.

    Example::

        >>> ws_api_url("https://api.binance.com")
        'wss://ws-api.binance.com:443/ws-api/v3'
        >>> ws_api_url("https://demo-api.binance.com")
        'wss://demo-ws-api.binance.com/ws-api/v3'
        >>> ws_api_url("http://127.0.0.1:8765")
        'ws://127.0.0.1:8765/ws-api/v3'
    """
    venue = venue_for(base_url)
    if venue is not None and venue.ws_api is not None:
        return venue.ws_api
    return _same_host(base_url) + WS_API_PATH


def _same_host(base_url: str) -> str:
    url = URL(base_url)
    scheme = "wss" if url.scheme == "https" else "ws"
    return str(url.with_scheme(scheme).with_path("").with_query(None)).rstrip("/")
