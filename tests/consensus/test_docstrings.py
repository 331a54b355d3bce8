"""Every docstring example in consensus/ runs and gives the shown result."""

import doctest
import importlib
import pkgutil

import pytest

import consensus

MODULES = sorted(info.name for info in pkgutil.iter_modules(consensus.__path__, "consensus."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
