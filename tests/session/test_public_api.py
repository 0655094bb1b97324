"""The public surface: one sorted ``__all__`` that matches what the package exposes."""

from __future__ import annotations

import inspect

import pytest

import toolkit as tk

pytestmark = pytest.mark.loop


def test_all_is_sorted_and_complete() -> None:
    assert list(tk.__all__) == sorted(tk.__all__, key=lambda n: (not n.isupper(), n))
    public = {
        name
        for name, value in vars(tk).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name not in ("annotations",)
    }
    # the module-level calls live in toolkit._api: the package only re-exports
    assert public == set(tk.__all__)


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    for name in tk.__all__:
        value = getattr(tk, name)
        if callable(value) and not isinstance(value, type):
            doc = inspect.getdoc(value) or ""
            assert "Example" in doc, f"{name} has no example"


def test_mission_api_names() -> None:
    for name in (
        "connect",
        "batch",
        "cancel",
        "cancel_all",
        "open_orders",
        "orders",
        "sql",
        "panel",
        "run",
        "close",
        "OrderStatus",
        "OPEN_STATUSES",
        "COLUMNS",
    ):
        assert name in tk.__all__
    assert inspect.iscoroutinefunction(tk.batch)
    assert inspect.iscoroutinefunction(tk.connect)
    assert not inspect.iscoroutinefunction(tk.orders)


def test_module_level_calls_are_the_api_modules() -> None:
    from toolkit import _api

    for name in _api.__all__:
        assert name in tk.__all__
        assert getattr(tk, name) is getattr(_api, name)
