"""Reading order input: a DataFrame, a list of dicts or a dict of columns -> :class:`InputRows`.

``read_orders`` only *reads*: it maps column aliases to one vocabulary, turns every value into its
exact type (``Decimal``, enums, ``bool``) and records what it could not read as per-row problems.
Checking rows against the exchange's rules is ``toolkit.core._validation.prepare``'s job.

Conventions (documented for users in the README):

* **Columns** (case-insensitive; spaces and dashes count as ``_``; Binance's camelCase works too):
  ``symbol``; ``side``; ``type`` (``order_type``); ``qty`` (``quantity``, ``amount``);
  ``quote_qty`` (``quote_order_qty``); ``qty_pct`` (``qty_per``); ``price``;
  ``stop_price`` (``trigger_price``); ``time_in_force`` (``tif``); ``reduce_only``;
  ``client_order_id``; ``market``. A row giving one field twice (``qty`` and ``quantity``) is
  invalid.
* **Unknown columns** make *every* row invalid ("unknown column 'foo'; known columns: ..."): a typo
  such as ``prcie`` must not silently turn a limit order into a market order.
* **Symbols**: ``BTCUSDT``, ``btcusdt`` or ccxt's ``BTC/USDT`` (spot) and ``BTC/USDT:USDT``
  (USD-M; the ``:settle`` part marks a futures symbol) all become ``BTCUSDT``.
* **Sides**: ``buy`` / ``sell`` in any case. ``long`` / ``short`` are refused: in hedge mode they
  name a position side, not an order side, and guessing would place the wrong order.
* **Types**: any case, ``-`` or space for ``_`` (``LIMIT``, ``stop-loss-limit``, ``limit_maker``).
  Without a type a row with a price is a ``limit`` order, otherwise a ``market`` order.
* **Values** may be ``str``, ``int``, ``float``, ``Decimal``, numpy scalars, ``NaN``/``None``
  (missing). Floats convert through ``str`` so ``0.1`` becomes ``Decimal("0.1")``. NaN, infinity,
  booleans, text that is not a number, more than 30 decimals or 1e30 and above make the row invalid
  (they never raise).

Each row has a **fingerprint**: a hash of its normalized input (not of computed quantities: a
``qty_pct`` row sizes differently when balances change, yet it is the same order on a re-run).
The batch fingerprint hashes the rows' fingerprints in order.

Example::

    >>> rows = read_orders([{"symbol": "BTC/USDT", "order_type": "LIMIT", "side": "buy",
    ...                      "price": "90000", "qty_per": 5}])
    >>> row = rows[0]
    >>> row.symbol, row.side.value, row.type.value, row.price, row.qty_pct, row.problems
    ('BTCUSDT', 'buy', 'limit', Decimal('90000'), Decimal('5'), ())
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Context, Decimal
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._exceptions import InputError
from ._models import Market, OrderType, Side, TimeInForce

__all__ = [
    "COLUMN_ALIASES",
    "FIELDS",
    "InputRow",
    "InputRows",
    "batch_fingerprint",
    "exchange_symbol",
    "read_orders",
    "row_fingerprint",
    "to_decimal",
]

#: The normalized fields of an input row, in display order.
FIELDS: tuple[str, ...] = (
    "symbol",
    "side",
    "type",
    "qty",
    "quote_qty",
    "qty_pct",
    "price",
    "stop_price",
    "time_in_force",
    "reduce_only",
    "client_order_id",
    "market",
)

_ALIASES: dict[str, str] = {
    "order_type": "type",
    "quantity": "qty",
    "amount": "qty",
    "quote_order_qty": "quote_qty",
    "qty_per": "qty_pct",
    "trigger_price": "stop_price",
    "tif": "time_in_force",
}
# Binance's own parameter names, lower-cased (shown to nobody, accepted from everybody).
_WIRE_NAMES: dict[str, str] = {
    "ordertype": "type",
    "quantity": "qty",
    "quoteorderqty": "quote_qty",
    "stopprice": "stop_price",
    "timeinforce": "time_in_force",
    "reduceonly": "reduce_only",
    "clientorderid": "client_order_id",
    "newclientorderid": "client_order_id",
}
#: Accepted column name (after lower-casing, ``-``/space -> ``_``) -> normalized field.
COLUMN_ALIASES: dict[str, str] = {**{name: name for name in FIELDS}, **_ALIASES, **_WIRE_NAMES}

#: Values beyond these are typos or overflow, not orders (and would overflow decimal arithmetic).
_MAX_ABS = Decimal("1e30")
_MIN_EXPONENT = -30
#: For normalize(): trailing zeros go, digits never get rounded away.
_EXACT = Context(prec=200)
_MAX_DIGITS = 60
_DECIMAL_FIELDS = ("qty", "quote_qty", "qty_pct", "price", "stop_price")


class _Bad(Exception):
    """A value that cannot be read; the message becomes part of the row's error."""


@dataclass(frozen=True)
class InputRow:
    """One order as read from the input: normalized values, or ``None`` where missing or unreadable.

    ``problems`` lists what could not be read (the row will be INVALID); ``fingerprint`` hashes the
    normalized input. ``symbol_market`` is the market implied by a ccxt symbol (``BTC/USDT:USDT``
    -> usdm, ``BTC/USDT`` -> spot), ``None`` for an exchange symbol.

    Example::

        >>> read_orders([{"symbol": "ETHUSDT", "side": "SELL", "qty": 0.1}])[0].qty
        Decimal('0.1')
    """

    position: int
    label: Hashable
    symbol: str | None = None
    side: Side | None = None
    type: OrderType | None = None
    qty: Decimal | None = None
    quote_qty: Decimal | None = None
    qty_pct: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool | None = None
    client_order_id: str | None = None
    market: Market | None = None
    symbol_market: Market | None = None
    problems: tuple[str, ...] = ()
    #: Fields that were given but could not be read (so "missing" would be the wrong message).
    unreadable: frozenset[str] = frozenset()
    fingerprint: str = ""

    @property
    def readable(self) -> bool:
        """True if every value of the row could be read."""
        return not self.problems


@dataclass(frozen=True)
class InputRows:
    """All rows of one input, in order, with the caller's index and the batch fingerprint.

    Example::

        >>> rows = read_orders(pd.DataFrame({"symbol": ["BTCUSDT"], "qty": [1]}, index=["a"]))
        >>> len(rows), list(rows.index), rows[0].label
        (1, ['a'], 'a')
    """

    rows: tuple[InputRow, ...]
    index: pd.Index = field(compare=False)
    #: Normalized fields present as columns.
    columns: tuple[str, ...] = ()
    #: Column names that are not known (every row is invalid because of them).
    unknown_columns: tuple[str, ...] = ()
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[InputRow]:
        return iter(self.rows)

    def __getitem__(self, position: int) -> InputRow:
        return self.rows[position]


# --------------------------------------------------------------------------- values


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        result = pd.isna(value)
    except (TypeError, ValueError, ArithmeticError):  # Decimal("sNaN") signals on comparison
        return False
    # pd.isna of a list/array gives an array: such a value is present (and unreadable).
    return isinstance(result, (bool, np.bool_)) and bool(result)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def to_decimal(value: Any) -> Decimal:
    """``value`` as an exact ``Decimal``; floats go through ``str`` (``0.1`` -> ``Decimal("0.1")``).

    Raises ``ValueError`` with a readable reason for NaN, infinity, booleans, non-numbers and
    values out of range (1e30 and above, more than 30 decimals).

    Example::

        >>> to_decimal(0.1), to_decimal("1e1"), to_decimal(np.int64(3))
        (Decimal('0.1'), Decimal('1E+1'), Decimal('3'))
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        raise ValueError(f"{_show(value)} is not a finite number")
    if not isinstance(value, (Decimal, int, np.integer, float, np.floating, str)):
        raise ValueError(f"{_show(value)} ({type(value).__name__}) is not a number")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, (int, np.integer)):
            number = Decimal(int(value))
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            # str() is the shortest repr: 0.1 -> "0.1", not 0.1000000000000000055...
            number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise ValueError(f"{_show(value)} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{_show(value)} is not a finite number")
    if abs(number) >= _MAX_ABS:
        raise ValueError(f"{_show(value)} is too large")
    exponent = number.normalize(_EXACT).as_tuple().exponent
    if number and isinstance(exponent, int) and exponent < _MIN_EXPONENT:
        raise ValueError(f"{_show(value)} has more than {-_MIN_EXPONENT} decimals")
    if len(number.as_tuple().digits) > _MAX_DIGITS:  # "1.000...0": drop the zeros, not digits
        number = number.normalize(_EXACT)
    return number


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{what} {_show(value)} is not text")
    return value.strip()


def _read_symbol(value: Any) -> tuple[str, Market | None]:
    text = _text(value, "symbol").upper()
    if "/" not in text:
        return text, None
    # ccxt: BASE/QUOTE (spot), BASE/QUOTE:SETTLE (perpetual), BASE/QUOTE:SETTLE-YYMMDD (delivery)
    base, _, rest = text.partition("/")
    quote, colon, settle = rest.partition(":")
    if not base or not quote or "/" in rest:
        raise _Bad(f"symbol {_show(value)} is not BASE/QUOTE or an exchange symbol like BTCUSDT")
    if not colon:
        return base + quote, Market.SPOT
    _, dash, expiry = settle.partition("-")
    return base + quote + (f"_{expiry}" if dash else ""), Market.USDM


def _read_side(value: Any) -> Side:
    text = _text(value, "side").lower()
    if text in ("buy", "sell"):
        return Side(text)
    hint = " (long/short name position sides; use buy or sell)" if text in ("long", "short") else ""
    raise _Bad(f"side {_show(value)} is not buy or sell{hint}")


def _read_type(value: Any) -> OrderType:
    text = _text(value, "type").lower().replace("-", "_").replace(" ", "_")
    try:
        return OrderType(text)
    except ValueError:
        known = ", ".join(t.value for t in OrderType)
        raise _Bad(f"type {_show(value)} is not an order type; known types: {known}") from None


def _read_tif(value: Any) -> TimeInForce:
    text = _text(value, "time_in_force").upper()
    try:
        return TimeInForce(text)
    except ValueError:
        known = ", ".join(t.value for t in TimeInForce)
        raise _Bad(f"time_in_force {_show(value)} is not one of {known}") from None


_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def _read_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer, float, np.floating)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad(f"reduce_only {_show(value)} is not true or false")


def _read_client_id(value: Any) -> str:
    # Numeric id columns come back from pandas as int64 (or float64 next to NaN): whole numbers.
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        return str(int(value))
    if not isinstance(value, str):
        raise _Bad(f"client_order_id {_show(value)} is not text")
    return value


def _read_market(value: Any) -> Market:
    text = _text(value, "market").lower()
    try:
        return Market(text)
    except ValueError:
        raise _Bad(f"market {_show(value)} is not spot or usdm") from None


def _read_number(name: str) -> Callable[[Any], Decimal]:
    def read(value: Any) -> Decimal:
        try:
            return to_decimal(value)
        except ValueError as exc:
            raise _Bad(f"{name} {exc}") from None

    return read


_READERS: dict[str, Callable[[Any], Any]] = {
    "side": _read_side,
    "type": _read_type,
    "time_in_force": _read_tif,
    "reduce_only": _read_bool,
    "client_order_id": _read_client_id,
    "market": _read_market,
    **{name: _read_number(name) for name in _DECIMAL_FIELDS},
}


# --------------------------------------------------------------------------- fingerprints


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(_EXACT), "f")  # 0.10 and 0.1 are the same order
    if isinstance(value, (Side, OrderType, TimeInForce, Market)):
        return value.value
    return value


def row_fingerprint(values: Mapping[str, Any]) -> str:
    """sha256 hex of a row's normalized input values (missing values left out).

    Example::

        >>> row_fingerprint({"qty": Decimal("0.10")}) == row_fingerprint({"qty": Decimal("0.1")})
        True
    """
    clean = {k: _canonical(v) for k, v in values.items() if v is not None}
    text = json.dumps(clean, sort_keys=True, ensure_ascii=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def batch_fingerprint(rows: Sequence[InputRow]) -> str:
    """sha256 hex over the rows' fingerprints, in order: same input -> same batch fingerprint.

    Example::

        >>> batch_fingerprint([]) == batch_fingerprint([])
        True
    """
    digest = hashlib.sha256(b"toolkit-batch-v1")
    for row in rows:
        digest.update(row.fingerprint.encode() + b"\n")
    return digest.hexdigest()


# --------------------------------------------------------------------------- reading


def _normalize_column(name: Any) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def _table(orders: Any) -> tuple[list[Any], list[list[Any]], pd.Index]:
    """(column labels, values per column, index) of a DataFrame or a sequence of mappings."""
    if isinstance(orders, pd.DataFrame):
        labels = list(orders.columns)
        values = [column.tolist() for _, column in orders.items()]  # (by position: any labels)
        return labels, values, orders.index
    if isinstance(orders, Mapping):
        if not any(_is_column(value) for value in orders.values()):
            raise InputError(
                "orders must be a DataFrame, a list of dicts or a dict of columns; got a single "
                "dict of values (wrap one order in a list: [order])"
            )
        return _table(_columns_frame(orders))
    if isinstance(orders, (str, bytes, bytearray)) or not isinstance(orders, Sequence):
        raise InputError(
            "orders must be a DataFrame, a list of dicts or a dict of columns, not "
            f"{type(orders).__name__}"
        )
    labels = []
    seen: set[Any] = set()
    for position, record in enumerate(orders):
        if not isinstance(record, Mapping):
            raise InputError(
                "orders must be a DataFrame, a list of dicts or a dict of columns; item "
                f"{position} is a {type(record).__name__}"
            )
        for key in record:
            if key not in seen:
                seen.add(key)
                labels.append(key)
    values = [[record.get(label) for record in orders] for label in labels]
    return labels, values, pd.RangeIndex(len(orders))


#: Values that make a dict a dict of columns (a dict holding only scalars is one order).
_COLUMN_TYPES = (list, tuple, np.ndarray, pd.Series, pd.Index, pd.api.extensions.ExtensionArray)


def _is_column(value: Any) -> bool:
    return isinstance(value, _COLUMN_TYPES)


def _columns_frame(orders: Mapping[Any, Any]) -> pd.DataFrame:
    """A column-wise dict (``{"symbol": [...], "side": [...]}``) as the DataFrame it describes.

    Built by pandas itself, so the dict reads exactly as ``pd.DataFrame(orders)`` would (the same
    values, the same fingerprints and client order ids); a single value stands for every row.
    """
    try:
        frame: pd.DataFrame = pd.DataFrame(dict(orders))
    except (ValueError, TypeError) as exc:
        lengths = ", ".join(
            f"{label!r}: {len(value)}" for label, value in orders.items() if _is_column(value)
        )
        raise InputError(
            f"the columns of a dict of columns must have the same length (got {lengths}): {exc}"
        ) from None
    return frame


def _known_columns_text() -> str:
    parts = []
    for name in FIELDS:
        aliases = [a for a, f in _ALIASES.items() if f == name]
        parts.append(f"{name} ({', '.join(aliases)})" if aliases else name)
    return ", ".join(parts)


def read_orders(
    orders: pd.DataFrame | Sequence[Mapping[str, Any]] | Mapping[str, Any],
) -> InputRows:
    """Read orders from a DataFrame, a list of dicts or a dict of columns into :class:`InputRows`.

    A dict of columns (``{"symbol": [...], "side": [...]}``) reads as ``pd.DataFrame(orders)``
    would. Raises :class:`~toolkit.InputError` when the input cannot be read at all (none of
    these; columns of different lengths; rows but no symbol column). Everything else becomes a
    per-row problem.

    Example::

        >>> rows = read_orders(pd.DataFrame({"Symbol": ["eth/usdt"], "Side": ["Sell"],
        ...                                  "quantity": [0.5], "tif": ["ioc"], "price": [3000]}))
        >>> r = rows[0]
        >>> r.symbol, r.side.value, r.type.value, r.qty, r.time_in_force.value
        ('ETHUSDT', 'sell', 'limit', Decimal('0.5'), 'IOC')
    """
    labels, columns, index = _table(orders)
    n_rows = len(index)

    by_field: dict[str, list[tuple[str, list[_Cell | None]]]] = {}
    unknown: list[str] = []
    for label, column in zip(labels, columns, strict=True):
        name = _normalize_column(label)
        if name in COLUMN_ALIASES:
            field_name = COLUMN_ALIASES[name]
            by_field.setdefault(field_name, []).append(
                (str(label), _read_column(field_name, column))
            )
        else:
            unknown.append(str(label))
    if n_rows and "symbol" not in by_field:
        raise InputError(
            f"orders have no symbol column (columns: {', '.join(map(str, labels)) or 'none'}); "
            "every order needs a symbol such as BTCUSDT or BTC/USDT"
        )

    unknown_problem = (
        f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
        f"known columns: {_known_columns_text()}"
        if unknown
        else None
    )
    # A RangeIndex's labels are plain ints; any other index is asked per row, as before, so a
    # label keeps the type the index gives it (numpy scalars included).
    range_labels = list(index) if isinstance(index, pd.RangeIndex) else None
    fingerprints: dict[tuple[tuple[str, Any], ...], str] = {}
    rows = []
    for position in range(n_rows):
        row_cells: dict[str, _Cell] = {}
        problems: list[str] = []
        for name, sources in by_field.items():
            if len(sources) == 1:
                only = sources[0][1][position]
                if only is not None:
                    row_cells[name] = only
                continue
            present = [(lbl, col[position]) for lbl, col in sources if col[position] is not None]
            if len(present) > 1:
                problems.append(
                    f"{' and '.join(repr(lbl) for lbl, _ in present)} both give {name}; use one"
                )
            if present:
                cell = present[0][1]
                assert cell is not None
                row_cells[name] = cell
        label = range_labels[position] if range_labels is not None else index[position]
        rows.append(
            _read_row(position, label, row_cells, problems, unknown, unknown_problem, fingerprints)
        )

    present_fields = tuple(f for f in FIELDS if f in by_field)
    return InputRows(
        rows=tuple(rows),
        index=index,
        columns=present_fields,
        unknown_columns=tuple(unknown),
        fingerprint=batch_fingerprint(rows),
    )


class _Cell(NamedTuple):
    """One input value, read: ``ok`` and its normalized ``value``, or not ``ok`` and ``value``
    says why (the row's problem).

    ``printed`` is what goes into the row fingerprint: the canonical text of the value (as
    :func:`row_fingerprint` would make it), or ``"!"`` + the raw value's repr if unreadable.
    """

    ok: bool
    value: Any
    printed: Any


#: Value types whose equal values (of the same type) always read the same, so one reading per
#: distinct value serves a whole column. Not Decimal: Decimal("1.0") == Decimal("1") but they
#: read as different values.
_CACHED_TYPES = (str, int, float, np.integer, np.floating)
_FLOATS = (float, np.floating)


def _read_column(name: str, column: list[Any]) -> list[_Cell | None]:
    """Every value of one column read as ``name`` (``None`` where missing).

    Columns repeat their values (a few symbols, two sides, one type), so each distinct value is
    read once: reading, validating and canonicalizing a value costs microseconds, a look-up
    a fraction of one.
    """
    seen: dict[tuple[type, Any], _Cell | None] = {}
    out: list[_Cell | None] = []
    for value in column:
        kind = type(value)
        # -0.0 == 0.0 but prints differently; NaN never equals itself (and is missing anyway)
        if issubclass(kind, _CACHED_TYPES) and not (issubclass(kind, _FLOATS) and not value):
            key = (kind, value)
            try:
                out.append(seen[key])
                continue
            except KeyError:
                cell = seen[key] = _read_cell(name, value)
        else:
            cell = _read_cell(name, value)
        out.append(cell)
    return out


def _read_cell(name: str, value: Any) -> _Cell | None:
    if _is_missing(value):
        return None
    try:
        if name == "symbol":
            symbol, symbol_market = _read_symbol(value)
            if not symbol:
                raise _Bad("symbol is empty")
            return _Cell(True, (symbol, symbol_market), symbol)
        read = _READERS[name](value)
        return _Cell(True, read, _canonical(read))
    except _Bad as exc:
        return _Cell(False, str(exc), "!" + repr(value)[:200])


#: InputRow's own fields (what a row's values may set).
_ROW_FIELDS = frozenset(f.name for f in fields(InputRow))


def _read_row(
    position: int,
    label: Hashable,
    cells: dict[str, _Cell],
    problems: list[str],
    unknown: list[str],
    unknown_problem: str | None,
    fingerprints: dict[tuple[tuple[str, Any], ...], str],
) -> InputRow:
    values: dict[str, Any] = {}
    # What goes into the fingerprint: canonical values, or the raw text of unreadable ones.
    printed: dict[str, Any] = {}
    unreadable: set[str] = set()
    for name, cell in cells.items():
        if not cell.ok:
            problems.append(cell.value)
            unreadable.add(name)
            printed[name] = cell.printed
        elif name == "symbol":
            symbol, symbol_market = cell.value
            values["symbol"], values["symbol_market"] = symbol, symbol_market
            printed["symbol"] = symbol
            if symbol_market is not None:
                printed["symbol_market"] = symbol_market.value
        else:
            values[name] = cell.value
            printed[name] = cell.printed
    if "symbol" not in cells:
        problems.insert(0, "missing symbol")
    if "type" not in cells:
        # Default: a row with a price is a limit order, one without a market order.
        values["type"] = OrderType.LIMIT if "price" in cells else OrderType.MARKET
        printed["type"] = values["type"].value
    if unknown_problem is not None:
        problems.append(unknown_problem)
        printed["unknown_columns"] = sorted(unknown)
    return InputRow(
        position=position,
        label=label,
        problems=tuple(problems),
        unreadable=frozenset(unreadable),
        fingerprint=_fingerprint(printed, fingerprints),
        **{k: v for k, v in values.items() if k in _ROW_FIELDS},
    )


def exchange_symbol(value: Any) -> str:
    """The exchange's symbol for any spelling an order row accepts; ``InputError`` if none.

    Example::

        >>> exchange_symbol("btc/usdt"), exchange_symbol("BTC/USDT:USDT"), exchange_symbol("ETH")
        ('BTCUSDT', 'BTCUSDT', 'ETH')
    """
    try:
        return _read_symbol(value)[0]
    except _Bad as exc:
        raise InputError(str(exc)) from None

def _fingerprint(printed: dict[str, Any], seen: dict[tuple[tuple[str, Any], ...], str]) -> str:
    """:func:`row_fingerprint` of ``printed`` (already canonical), once per distinct row."""
    try:
        key = tuple(sorted(printed.items()))
        hash(key)
    except TypeError:  # an unhashable value (the list of unknown columns)
        return row_fingerprint(printed)
    found = seen.get(key)
    if found is None:
        found = seen[key] = row_fingerprint(printed)
    return found
