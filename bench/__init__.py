"""The benchmark suite: ``python -m bench`` (``make bench``) writes ``bench/RESULTS.md`` and
``bench/results.json``.

Every measurement runs against one standalone paper exchange process (rate limits off, fixed
prices), with the same orders and the same concurrency, and reports medians of several
repetitions and the ratios between them. Modules:

- ``_server``   start/stop the paper exchange process (``python -m toolkit paper --json``)
- ``_orders``   the benchmark orders, built from the server's exchangeInfo and prices
- ``_wire``     pre-built, pre-signed Binance requests (the floor and the origin's pattern)
- ``floor``     plain aiohttp on one ClientSession: what the wire and server allow
- ``ccxt_run``  the same orders through ``ccxt.async_support``
- ``toolkit_run`` the same orders through ``await tk.batch(df)``
- ``origin``    200 batches of 5 from sync code: new loop + session per batch vs ``tk.run``
- ``store``     the DuckDB store: bulk apply vs per-row inserts, its share of a batch
- ``stability`` 100 consecutive batches: sessions, sockets, descriptors, memory
- ``capacity``  the paper exchange's own capacity
- ``report``    RESULTS.md and results.json
"""
