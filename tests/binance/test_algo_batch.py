"""USD-M conditional orders through ``tk.batch``: placed on the Algo Order API, triggered by the
paper exchange's price, queried, listed and cancelled like any other row of the order frame."""

from __future__ import annotations

from typing import Any

import toolkit as tk

from .conftest import Paper, on_io, until, until_async

BTC = "BTCUSDT"


async def test_algo_orders_through_batch(io_paper: Paper, tmp_path: Any) -> None:
    futures = await tk.connect(
        "paper",
        market="usdm",
        base_url=io_paper.exchange.url,
        api_key=io_paper.key,
        api_secret=io_paper.secret,
        store=str(tmp_path / "algo.duckdb"),
    )
    try:
        price = float(await on_io(io_paper.exchange.price, BTC, "usdm"))
        entry = await futures.batch(
            [{"symbol": BTC, "side": "buy", "type": "market", "qty": 0.004}]
        )
        assert list(entry.status) == ["FILLED"]
        frame = await futures.batch(
            [
                {
                    "symbol": BTC,
                    "side": "sell",
                    "type": "stop_market",
                    "qty": 0.002,
                    "stop_price": round(price * 0.99, 1),
                    "reduce_only": True,
                },
                {
                    "symbol": BTC,
                    "side": "sell",
                    "type": "take_profit",
                    "qty": 0.002,
                    "price": round(price * 1.02, 1),
                    "stop_price": round(price * 1.02, 1),
                },
                {
                    "symbol": BTC,
                    "side": "buy",
                    "type": "limit",
                    "qty": 0.002,
                    "price": round(price * 0.9, 1),
                },
            ],
            key="algo-1",
        )
        assert list(frame.status) == ["NEW", "NEW", "NEW"]
        assert list(frame.type) == ["stop_market", "take_profit", "limit"]
        stop_id, take_id, limit_id = frame.client_order_id
        algo_ids = {a.client_algo_id: a.algo_id for a in io_paper.exchange.algos.orders.values()}
        assert set(algo_ids) == {stop_id, take_id}  # the row's id went out as clientAlgoId
        assert frame.order_id[0] == str(algo_ids[stop_id])  # order_id: the algo id for now

        opened = await futures.open_orders(BTC)
        assert set(opened.client_order_id) == {stop_id, take_id, limit_id}

        # the paper price falls through the stop: it triggers and its market order fills
        await on_io(io_paper.exchange.set_price, BTC, round(price * 0.985, 1), "usdm")

        async def stop_filled() -> bool:
            rows = (await futures.open_orders(BTC)).client_order_id
            return stop_id not in set(rows)

        await until_async(stop_filled)
        stored = futures.orders(key="algo-1").set_index("client_order_id")
        assert stored.loc[stop_id, "status"] == "FILLED"
        assert stored.loc[stop_id, "type"] == "stop_market"
        triggered = next(
            a for a in io_paper.exchange.algos.orders.values() if a.client_algo_id == stop_id
        )
        assert stored.loc[stop_id, "order_id"] == str(triggered.actual_order_id)
        both = futures.store.sql(
            "select order_id, algo_id from orders where client_order_id = ?", [stop_id]
        )
        assert both.to_dict("records") == [  # the store keeps the algo id and the order's
            {"order_id": str(triggered.actual_order_id), "algo_id": str(algo_ids[stop_id])}
        ]

        cancelled = await futures.cancel([take_id])
        assert list(cancelled.status) == ["CANCELED"]
        assert [
            a.status for a in io_paper.exchange.algos.orders.values() if a.client_algo_id == take_id
        ] == ["CANCELED"]
        rest = await futures.cancel_all(BTC)
        assert list(rest.client_order_id) == [limit_id]
        assert (await futures.open_orders(BTC)).empty
    finally:
        await futures.close()


async def test_algo_update_events_reach_the_frame(io_paper: Paper, tmp_path: Any) -> None:
    """An algo order cancelled (or fired) at the exchange reaches the row by ``ALGO_UPDATE``."""
    futures = await tk.connect(
        "paper",
        market="usdm",
        base_url=io_paper.exchange.url,
        api_key=io_paper.key,
        api_secret=io_paper.secret,
        store=str(tmp_path / "algo-events.duckdb"),
    )
    try:
        feed = futures.feed
        assert feed is not None
        await until(lambda: feed.state.value == "live")
        price = float(await on_io(io_paper.exchange.price, BTC, "usdm"))
        frame = await futures.batch(
            [
                {
                    "symbol": BTC,
                    "side": "buy",
                    "type": "stop_market",
                    "qty": 0.002,
                    "stop_price": round(price * 1.05, 1),
                }
            ],
            key="algo-events",
        )
        (cid,) = frame.client_order_id
        algo = next(a for a in io_paper.exchange.algos.orders.values() if a.client_algo_id == cid)
        await on_io(io_paper.exchange.algos.cancel, algo)  # someone else cancels it

        def status() -> str:
            return str(futures.orders(key="algo-events").status.iloc[0])

        await until(lambda: status() == "CANCELED")
        events = futures.sql(f"select source from order_events where client_order_id = '{cid}'")
        assert "stream" in set(events.source)
    finally:
        await futures.close()
