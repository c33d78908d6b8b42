"""The quick tier (-m "not slow") checks the Easy level of every memory task; the
Medium and Hard levels run in the whole suite. A level is one set of sizes of the same
code, and its tests (big vmapped rollouts, a compile per level) are most of this
folder's time."""

import re
from pathlib import Path

import pytest

HERE = Path(__file__).parent
HARDER_LEVEL = re.compile(r"(?<![A-Za-z])(Medium|Hard)(?![A-Za-z])")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE not in item.path.parents:
            continue  # the hook sees every collected test, not only this folder's
        callspec = getattr(item, "callspec", None)
        if callspec is not None and HARDER_LEVEL.search(callspec.id):
            item.add_marker(pytest.mark.slow)
