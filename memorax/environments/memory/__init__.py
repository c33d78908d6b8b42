"""A native JAX suite of partially observable memory tasks (the POPGym family).

Each task module exports `ENVIRONMENTS`, a mapping from id (`<Task>-Easy`,
`-Medium`, `-Hard`) to a constructor; this package merges them.
"""

from memorax.environments.memory import (
    autoencode,
    bandit,
    battleship,
    concentration,
    count_recall,
    higher_lower,
    minesweeper,
    repeat,
    stateless_control,
    tmaze,
)

ENVIRONMENTS: dict = {}
for _module in (
    repeat,
    count_recall,
    autoencode,
    stateless_control,
    higher_lower,
    bandit,
    battleship,
    concentration,
    minesweeper,
    tmaze,
):
    ENVIRONMENTS.update(_module.ENVIRONMENTS)
