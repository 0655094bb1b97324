"""Signature test vectors (Binance's SIGNED endpoint examples) and the exact wire encoding of
values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from toolkit.binance._signing import Signer, encode_params, wire_value
from toolkit.binance._wire import order_params
from toolkit.core._models import Market

from .conftest import req

SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
FUT_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"

V1 = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)


@pytest.mark.parametrize(
    ("secret", "payload", "expected"),
    [
        (SPOT_SECRET, V1, "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"),
        (
            SPOT_SECRET,
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
            "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
        ),
        (
            SPOT_SECRET,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77",
        ),
        (
            SPOT_SECRET,
            "timestamp=1578963600000",
            "d84e6641b1e328e7b418fff030caed655c266299c9355e36ce801ed14631eed4",
        ),
        (
            FUT_SECRET,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
            "&recvWindow=5000&timestamp=1591702613943",
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
        ),
    ],
)
def test_signature_vectors(secret: str, payload: str, expected: str) -> None:
    assert Signer(secret).sign(payload) == expected
    assert Signer(secret).sign(payload.encode()) == expected


def test_futures_mixed_vector_from_the_fact_sheet() -> None:
    payload = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
        "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
    )
    assert (
        Signer(FUT_SECRET).sign(payload)
        == "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"
    )


def test_encode_params_builds_the_v1_payload_exactly() -> None:
    payload = encode_params(
        [
            ("symbol", "LTCBTC"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", Decimal("1")),
            ("price", Decimal("0.1")),
            ("recvWindow", 5000),
            ("timestamp", 1499827319559),
        ]
    )
    assert payload == V1


def test_non_ascii_is_percent_encoded_before_signing() -> None:
    payload = encode_params({"symbol": "１２３４５６", "side": "BUY"})
    assert payload == "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY"


def test_wire_values_are_exact_strings() -> None:
    assert wire_value(Decimal("0.00100")) == "0.00100"
    assert wire_value(Decimal("1E+2")) == "100"
    assert wire_value(Decimal("1E-8")) == "0.00000001"
    assert wire_value(True) == "true"
    assert wire_value(False) == "false"
    assert wire_value(7) == "7"
    assert wire_value([{"price": Decimal("1.50"), "q": "2"}]) == '[{"price":"1.50","q":"2"}]'
    with pytest.raises(TypeError):
        wire_value(0.1)
    with pytest.raises(TypeError):
        wire_value([0.1])
    with pytest.raises(ValueError, match="non-finite"):
        wire_value(Decimal("NaN"))


def test_none_values_are_dropped_and_json_is_encoded() -> None:
    assert encode_params({"a": None, "b": ["x", "y"]}) == "b=%5B%22x%22%2C%22y%22%5D"


def test_signer_hides_the_secret() -> None:
    signer = Signer(SPOT_SECRET)
    assert SPOT_SECRET not in repr(signer)
    assert SPOT_SECRET not in str(signer)
    with pytest.raises(ValueError, match="secret"):
        Signer("")


def test_one_decimal_formatter_for_params_and_batch_json() -> None:
    # batchOrders elements go through the JSON encoder: same exact text, same refusal of NaN
    batch = [{"price": Decimal("1E+2"), "quantity": Decimal("0.0010")}]
    assert wire_value(batch) == '[{"price":"100","quantity":"0.0010"}]'
    with pytest.raises(ValueError, match="non-finite"):
        wire_value([{"price": Decimal("Infinity")}])
    with pytest.raises(ValueError, match="non-finite"):
        encode_params({"batchOrders": [{"price": Decimal("NaN")}]})
    params = order_params(req(1, Market.USDM, price=Decimal("5E+4"), qty=Decimal("1E-3")))
    assert (params["price"], params["quantity"]) == ("50000", "0.001")
    with pytest.raises(ValueError, match="non-finite"):
        order_params(req(1, Market.USDM, price=Decimal("NaN")))
