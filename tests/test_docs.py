"""Every python block of docs/*.md runs as written, in order, one namespace per page.

A reader copies a page's blocks top to bottom into one session, so later blocks may use
names from earlier ones, and nothing is supplied by the test. The design documents in
docs/seeds/ use names they do not define and run in tests/networks/test_seed_docs.py;
the README's block runs in tests/test_readme.py. Fragments not meant to run are fenced
as plain text, not python.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(path.name for path in DOCS.glob("*.md"))
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

# Each block of these compiles a whole training program (and runs a few steps of it).
SLOW_PAGES = {"algorithms.md"}


def check_environments(namespace: dict):
    # The last block masks CartPole down to 2 of its 4 features.
    assert namespace["env"].observation_space(namespace["env_params"]).shape == (2,)


# What a page's blocks must leave behind, beyond running.
PAGE_CHECKS = {"environments.md": check_environments}


def python_blocks(page: str) -> list[tuple[int, str]]:
    """(line number of the block's first line, source) of each python block."""
    text = (DOCS / page).read_text()
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in PYTHON_BLOCK.finditer(text)]


def run_page(page: str) -> dict:
    """Run the page's blocks in order in one fresh namespace, as a script would."""
    namespace: dict = {"__name__": "__main__"}
    for line, block in python_blocks(page):
        # Padded so a traceback points at the page's own line numbers.
        exec(compile("\n" * (line - 1) + block, str(DOCS / page), "exec"), namespace)
    return namespace


def test_the_pages_and_their_blocks_are_found():
    assert {"algorithms.md", "environments.md", "networks.md"} <= set(PAGES)
    assert all(python_blocks(page) for page in {*PAGE_CHECKS, *SLOW_PAGES})


def test_python_code_is_fenced_as_python_so_it_runs_here():
    for page in PAGES:
        tags = set(re.findall(r"^```(\w+)", (DOCS / page).read_text(), re.M))
        assert not tags & {"py", "python3", "pycon", "ipython"}, page


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=[pytest.mark.slow] if page in SLOW_PAGES else [])
        for page in PAGES
        if python_blocks(page)
    ],
)
def test_every_python_block_of_the_page_runs_in_order(page):
    namespace = run_page(page)
    if page in PAGE_CHECKS:
        PAGE_CHECKS[page](namespace)
