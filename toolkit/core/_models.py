"""Orders as data: enums for the wire vocabulary, named status sets, and the frozen order records.

``OrderRequest`` is what leaves the machine (validated, exact decimals); ``Order`` is the normalized
state of one order as the toolkit knows it (one row of the order frame). Both are frozen: a new
state is a new ``Order`` (``dataclasses.replace``).

Example::

    >>> from toolkit.core._models import OrderStatus, OPEN_STATUSES
    >>> OrderStatus.NEW in OPEN_STATUSES
    True
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar, cast

import pandas as pd

__all__ = [
    "DONE_STATUSES",
    "OPEN_STATUSES",
    "Market",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Outcome",
    "Side",
    "TimeInForce",
]


class _Text(str, enum.Enum):
    """A text enum that reads as its value wherever text is shown: ``str()`` and f-strings give
    ``"buy"``, not ``"Side.BUY"`` (as ``enum.StrEnum`` does from Python 3.11), and it compares
    and hashes as its value (``Side.BUY == "buy"``)."""

    def __str__(self) -> str:
        return str(self._value_)

    def __format__(self, spec: str) -> str:
        return format(str(self._value_), spec)


class _OpenText(_Text):
    """A :class:`_Text` enum that also reads the exchange's values it has no member for.

    ``Side(value)`` / ``OrderType(value)`` take members only (what a user may ask for);
    :meth:`from_exchange` also reads a value the exchange uses that this release has no member
    for (an order type added later) as a stand-in of the same type, made once, so an answer or a
    stored row that carries it stays readable instead of failing.
    """

    @classmethod
    def from_exchange(cls: type[_E], value: str) -> _E:
        """The member whose value is ``value``, else the stand-in for it (see the class).

        Example::

            >>> OrderType.from_exchange("market") is OrderType.MARKET
            True
            >>> OrderType.from_exchange("liquidation").value
            'liquidation'
        """
        member = cls._value2member_map_.get(value)
        if member is not None:
            return cast(_E, member)
        key = (cls, value)
        found = _STAND_INS.get(key)
        if found is None:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{value!r} is not a valid {cls.__qualname__}")
            made = str.__new__(cls, value)
            made._value_ = value
            made._name_ = value.upper()
            found = _STAND_INS.setdefault(key, made)
        return cast(_E, found)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return type(self).from_exchange, (self._value_,)


#: The stand-ins :meth:`_OpenText.from_exchange` made, by (enum, value).
_STAND_INS: dict[tuple[type, str], _OpenText] = {}
_E = TypeVar("_E", bound=_OpenText)


class Market(_Text):
    """Which market of the exchange: spot or USD-M futures."""

    SPOT = "spot"
    USDM = "usdm"


class Side(_OpenText):
    """Order side, lower case as in the order frame."""

    BUY = "buy"
    SELL = "sell"


class OrderType(_OpenText):
    """Order type, lower case as in the order frame (the wire uses upper case)."""

    LIMIT = "limit"
    MARKET = "market"
    LIMIT_MAKER = "limit_maker"
    STOP_LOSS = "stop_loss"
    STOP_LOSS_LIMIT = "stop_loss_limit"
    TAKE_PROFIT = "take_profit"
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    # USD-M conditional types (refused by Binance's order endpoints since 2025-12, -4120)
    STOP = "stop"
    STOP_MARKET = "stop_market"
    TAKE_PROFIT_MARKET = "take_profit_market"
    TRAILING_STOP_MARKET = "trailing_stop_market"


class TimeInForce(str, enum.Enum):
    """Time in force as on the wire."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # USD-M post-only
    GTD = "GTD"


class OrderStatus(str, enum.Enum):
    """Order status: the exchange's, plus PENDING (outcome unknown) and INVALID (never sent)."""

    PENDING = "PENDING"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    INVALID = "INVALID"


class Outcome(str, enum.Enum):
    """What is known of an order request's fate at the exchange (a field of :class:`Order`).

    The store keeps it as its ``placed`` column with the status: ``placed = FALSE`` is
    ``NOT_PLACED``; a ``PENDING`` row that may be placed is ``UNKNOWN``; the rest ``PLACED``.
    """

    #: The exchange has (or had) the order; its status is the exchange's.
    PLACED = "placed"
    #: Written ahead or sent, no definite answer yet (status ``PENDING``): resolved by client
    #: order id.
    UNKNOWN = "unknown"
    #: Provably never reached the exchange (status ``REJECTED``, or ``INVALID``: never sent); a
    #: re-run of its key may send it.
    NOT_PLACED = "not_placed"

    def says(self, why: str) -> str:
        """The ``error_msg`` of an order with this outcome for the reason ``why``.

        Example::

            >>> Outcome.NOT_PLACED.says("interrupted before it was sent")
            'not placed: interrupted before it was sent'
        """
        return _OUTCOME_TEXT[self] + why

    @classmethod
    def of(cls, status: OrderStatus, placed: bool) -> Outcome:
        """The outcome the store's ``status`` and ``placed`` columns express."""
        if not placed:
            return cls.NOT_PLACED
        return cls.UNKNOWN if status is OrderStatus.PENDING else cls.PLACED


_OUTCOME_TEXT = {
    Outcome.PLACED: "",
    Outcome.UNKNOWN: "execution status unknown: ",
    Outcome.NOT_PLACED: "not placed: ",
}

#: Orders that may still trade: they show in the panel and in ``open_orders()``.
OPEN_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
#: Final states: nothing more will happen to these orders.
DONE_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.INVALID,
    }
)


@dataclass(frozen=True)
class OrderRequest:
    """A validated order, ready for the wire. Decimals are exact; ``None`` means "not sent"."""

    client_order_id: str
    market: Market
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal | None = None
    quote_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False


@dataclass(frozen=True, repr=False)
class Order:
    """The normalized state of one order: one row of the order frame (see ``toolkit.core._frame``).

    The fields after ``updated_at`` are kept by the store but are not columns of the frame.
    ``raw`` is the exchange payload of the last update. ``market``, ``side`` and ``type`` are
    the enums of :class:`OrderRequest`; they are text enums, so ``order.side == "buy"`` holds
    and the frame, the store and the repr show them as text.
    """

    client_order_id: str
    exchange: str
    market: Market
    symbol: str
    side: Side | None = None
    type: OrderType | None = None
    status: OrderStatus = OrderStatus.PENDING
    order_id: str | None = None
    time_in_force: str | None = None
    price: float | None = None
    stop_price: float | None = None
    qty: float | None = None
    filled_qty: float | None = None
    avg_price: float | None = None
    reduce_only: bool | None = None
    error_code: int | None = None
    error_msg: str | None = None
    batch_id: str | None = None
    key: str | None = None
    created_at: pd.Timestamp | None = None
    updated_at: pd.Timestamp | None = None
    raw: dict[str, Any] | list[Any] | None = field(default=None, compare=False, repr=False)
    #: What is known of the order's fate at the exchange (see :class:`Outcome`).
    outcome: Outcome = Outcome.PLACED
    #: Position of the row in its batch (0-based), so stored rows come back in input order.
    position: int | None = None
    #: The request for this order is never sent after this instant; with recvWindow it bounds
    #: when the exchange could still accept it (see the reconciliation rule in ``_reconcile``).
    not_after: pd.Timestamp | None = None
    #: A USD-M conditional order's algo id (``order_id`` holds it until the order fires, then the
    #: triggered order's id): the store keeps both.
    algo_id: str | None = None

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Order:
        """``Order(**fields)`` without the dataclass ``__init__``, which sets each of the 26
        frozen fields through ``object.__setattr__``: three times cheaper, for the paths that
        build one per order (validation, parsing answers). The values must already be of their
        fields' types; fields left out take their defaults.

        Example::

            >>> Order.from_fields({"client_order_id": "c1", "exchange": "paper",
            ...                    "market": Market.SPOT, "symbol": "BTCUSDT"}).status.value
            'PENDING'
        """
        if not _ORDER_FIELDS.issuperset(fields) or not _REQUIRED.issubset(fields):
            unknown = sorted(set(fields) - _ORDER_FIELDS)
            missing = sorted(_REQUIRED - set(fields))
            raise TypeError(f"Order fields unknown {unknown}, missing {missing}")
        new = object.__new__(cls)
        state = new.__dict__
        state.update(_DEFAULTS)
        state.update(fields)
        return new

    def evolve(self, **changes: Any) -> Order:
        """A copy with ``changes`` (``dataclasses.replace`` without re-running ``__init__``: the
        fields are this class's and already typed; a few times cheaper per order on the hot
        path of a batch).

        Example::

            >>> Order(client_order_id="c1", exchange="paper", market="spot",
            ...       symbol="BTCUSDT").evolve(status=OrderStatus.NEW).status.value
            'NEW'
        """
        unknown = changes.keys() - _ORDER_FIELDS
        if unknown:
            raise TypeError(f"Order has no field(s) {sorted(unknown)}")
        new = object.__new__(Order)
        state = dict(self.__dict__)
        state.update(changes)
        new.__dict__.update(state)
        return new

    def __repr__(self) -> str:
        # The dataclass repr, with market, side and type as the text they read as (as before
        # they were enums): Order(..., market='spot', ..., side='buy', type='market', ...).
        shown = ", ".join(
            f"{name}={(_plain(value) if name in _AS_TEXT else value)!r}"
            for name, value in ((n, getattr(self, n)) for n in _REPR_FIELDS)
        )
        return f"{type(self).__qualname__}({shown})"

    @property
    def is_open(self) -> bool:
        """True while the order may still trade."""
        return self.status in OPEN_STATUSES

    @property
    def placed(self) -> bool:
        """False once the order is proven never to have reached the exchange (a re-run of its
        key may place it): the store's ``placed`` column."""
        return self.outcome is not Outcome.NOT_PLACED


_ORDER_FIELDS = frozenset(f.name for f in dataclasses.fields(Order))
_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(Order) if f.default is not dataclasses.MISSING
}
_REQUIRED = _ORDER_FIELDS - _DEFAULTS.keys()
_REPR_FIELDS = tuple(f.name for f in dataclasses.fields(Order) if f.repr)
_AS_TEXT = frozenset({"market", "side", "type"})


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, _Text) else value
