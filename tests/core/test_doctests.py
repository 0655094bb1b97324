"""The examples in the docstrings of the input modules run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from toolkit.core import _ids, _input, _rules, _validation


@pytest.mark.parametrize("module", [_ids, _input, _rules, _validation], ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
