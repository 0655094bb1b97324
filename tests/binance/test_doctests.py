"""The examples in the docstrings of the Binance protocol modules run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from toolkit.binance import _codes, _headers, _venues


@pytest.mark.parametrize("module", [_codes, _headers, _venues], ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
