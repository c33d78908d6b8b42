"""POPGym 1.0.7's memory tasks as measured, for checking that memorax's mean the same.

Researchers compare memorax numbers with POPGym's published ones, so each task's
default must be POPGym 1.0.7's task. The numbers below were measured once with
popgym 1.0.7 (gymnasium 1.4.0, numpy 2.4.6), installed in a separate venv; popgym is
not a dependency of memorax. For each level: the observation and action spaces as
popgym declares them, and uniformly random play (`env.action_space.sample()` after
`env.action_space.seed(0)`, the first episode from `env.reset(seed=0)`, then unseeded
resets), with the episode count in each row. Each task's test file rolls out the same
random play in memorax and calls `assert_random_play_matches_popgym`;
`test_popgym_reference.py` checks the spaces and episode limits of every level.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Spaces(NamedTuple):
    """What POPGym declares, and what memorax makes of it."""

    observation: str  # POPGym's observation space, as popgym prints it (abridged)
    observation_size: int  # memorax's observation length: the one-hot (or Box) size
    num_actions: int | None  # Discrete(n) or MultiDiscrete([n, n]) as n * n; None: a Box
    episode_limit: int  # the longest episode POPGym allows
    limit_truncates: bool  # whether reaching it truncates (else the game ends there)


class RandomPlay(NamedTuple):
    """POPGym's uniformly random play: means and their standard errors, and how
    many episodes a time limit ended (truncated, not terminated)."""

    episodes: int
    return_mean: float
    return_se: float
    length_mean: float
    length_se: float
    truncated_fraction: float


SPACES = {
    "RepeatFirst-Easy": Spaces("Discrete(4)", 4, 4, 51, False),
    "RepeatFirst-Medium": Spaces("Discrete(4)", 4, 4, 415, False),
    "RepeatFirst-Hard": Spaces("Discrete(4)", 4, 4, 831, False),
    "RepeatPrevious-Easy": Spaces("Discrete(4)", 4, 4, 51, False),
    "RepeatPrevious-Medium": Spaces("Discrete(4)", 4, 4, 103, False),
    "RepeatPrevious-Hard": Spaces("Discrete(4)", 4, 4, 155, False),
    "CountRecall-Easy": Spaces("MultiDiscrete([2 2])", 4, 27, 51, False),
    "CountRecall-Medium": Spaces("MultiDiscrete([4 4])", 8, 27, 103, False),
    "CountRecall-Hard": Spaces("MultiDiscrete([13 13])", 26, 17, 207, False),
    "Autoencode-Easy": Spaces("Tuple(Discrete(2), Discrete(4))", 6, 4, 103, False),
    "Autoencode-Medium": Spaces("Tuple(Discrete(2), Discrete(4))", 6, 4, 207, False),
    "Autoencode-Hard": Spaces("Tuple(Discrete(2), Discrete(4))", 6, 4, 311, False),
    "HigherLower-Easy": Spaces("Discrete(13)", 13, 2, 51, False),
    "HigherLower-Medium": Spaces("Discrete(13)", 13, 2, 103, False),
    "HigherLower-Hard": Spaces("Discrete(13)", 13, 2, 155, False),
    "Concentration-Easy": Spaces("MultiDiscrete([3 ... 3]), 52 entries", 156, 52, 104, True),
    "Concentration-Medium": Spaces("MultiDiscrete([3 ... 3]), 104 entries", 312, 104, 208, True),
    "Concentration-Hard": Spaces("MultiDiscrete([14 ... 14]), 52 entries", 728, 52, 104, True),
    "Battleship-Easy": Spaces("Discrete(2)", 2, 64, 64, True),
    "Battleship-Medium": Spaces("Discrete(2)", 2, 100, 100, True),
    "Battleship-Hard": Spaces("Discrete(2)", 2, 144, 144, True),
    "MineSweeper-Easy": Spaces("Discrete(3)", 3, 16, 14, True),
    "MineSweeper-Medium": Spaces("Discrete(7)", 7, 36, 30, True),
    "MineSweeper-Hard": Spaces("Discrete(10)", 10, 64, 54, True),
    "StatelessCartPole-Easy": Spaces("Box([-4.8 -0.419], [4.8 0.419], (2,))", 2, 2, 200, True),
    "StatelessCartPole-Medium": Spaces("Box([-4.8 -0.419], [4.8 0.419], (2,))", 2, 2, 400, True),
    "StatelessCartPole-Hard": Spaces("Box([-4.8 -0.419], [4.8 0.419], (2,))", 2, 2, 600, True),
    "NoisyStatelessCartPole-Easy": Spaces("Box([-4.8 -0.419], [4.8 0.419], (2,))", 2, 2, 200, True),
    "NoisyStatelessCartPole-Medium": Spaces("Box([-4.8 -0.419], [4.8 0.419], (2,))", 2, 2, 200, True),
    "NoisyStatelessCartPole-Hard": Spaces("Box([-4.8 -0.419], [4.8 0.419], (2,))", 2, 2, 200, True),
    "StatelessPendulum-Easy": Spaces("Box(-1.0, 1.0, (2,))", 2, None, 200, True),
    "StatelessPendulum-Medium": Spaces("Box(-1.0, 1.0, (2,))", 2, None, 150, True),
    "StatelessPendulum-Hard": Spaces("Box(-1.0, 1.0, (2,))", 2, None, 100, True),
    "NoisyStatelessPendulum-Easy": Spaces("Box(-1.0, 1.0, (2,))", 2, None, 200, True),
    "NoisyStatelessPendulum-Medium": Spaces("Box(-1.0, 1.0, (2,))", 2, None, 200, True),
    "NoisyStatelessPendulum-Hard": Spaces("Box(-1.0, 1.0, (2,))", 2, None, 200, True),
    "MultiarmedBandit-Easy": Spaces("Discrete(2)", 2, 10, 200, True),
    "MultiarmedBandit-Medium": Spaces("Discrete(2)", 2, 20, 400, True),
    "MultiarmedBandit-Hard": Spaces("Discrete(2)", 2, 30, 600, True),
}

# id: (episodes, mean return, its standard error, mean length, its standard error,
# fraction truncated), from popgym 1.0.7 with seed 0 as the module docstring says.
# Every level has seed 0, so levels that differ only in what the agent sees (the
# noisy control tasks) play the same random games and give the same numbers.
RANDOM_PLAY = {
    "RepeatFirst-Easy": RandomPlay(20000, -0.49851, 0.00085, 51.0, 0.0000, 0.0),
    "RepeatFirst-Medium": RandomPlay(20000, -0.49968, 0.00030, 415.0, 0.0000, 0.0),
    "RepeatFirst-Hard": RandomPlay(20000, -0.50004, 0.00021, 831.0, 0.0000, 0.0),
    "RepeatPrevious-Easy": RandomPlay(20000, -0.50044, 0.00089, 51.0, 0.0000, 0.0),
    "RepeatPrevious-Medium": RandomPlay(20000, -0.50083, 0.00072, 103.0, 0.0000, 0.0),
    "RepeatPrevious-Hard": RandomPlay(20000, -0.50001, 0.00064, 155.0, 0.0000, 0.0),
    "CountRecall-Easy": RandomPlay(20000, -0.92620, 0.00037, 51.0, 0.0000, 0.0),
    "CountRecall-Medium": RandomPlay(20000, -0.92584, 0.00026, 103.0, 0.0000, 0.0),
    "CountRecall-Hard": RandomPlay(20000, -0.88231, 0.00023, 207.0, 0.0000, 0.0),
    "Autoencode-Easy": RandomPlay(20000, -0.49977, 0.00086, 103.0, 0.0000, 0.0),
    "Autoencode-Medium": RandomPlay(20000, -0.49970, 0.00060, 207.0, 0.0000, 0.0),
    "Autoencode-Hard": RandomPlay(20000, -0.50036, 0.00049, 311.0, 0.0000, 0.0),
    "HigherLower-Easy": RandomPlay(20000, -0.00011, 0.00095, 51.0, 0.0000, 0.0),
    "HigherLower-Medium": RandomPlay(20000, -0.00068, 0.00066, 103.0, 0.0000, 0.0),
    "HigherLower-Hard": RandomPlay(20000, -0.00064, 0.00055, 155.0, 0.0000, 0.0),
    "Concentration-Easy": RandomPlay(20000, -0.18951, 0.00074, 104.0, 0.0000, 1.0),
    "Concentration-Medium": RandomPlay(20000, -0.18530, 0.00051, 208.0, 0.0000, 1.0),
    "Concentration-Hard": RandomPlay(20000, -0.83541, 0.00062, 104.0, 0.0000, 1.0),
    "Battleship-Easy": RandomPlay(100000, -0.44809, 0.00052, 63.97953, 0.0015, 0.99677),
    "Battleship-Medium": RandomPlay(100000, -0.41562, 0.00049, 99.96790, 0.0025, 0.99681),
    "Battleship-Hard": RandomPlay(100000, -0.39968, 0.00047, 143.94430, 0.0039, 0.99662),
    "MineSweeper-Easy": RandomPlay(100000, -0.22995, 0.00103, 6.7789, 0.0145, 0.15483),
    "MineSweeper-Medium": RandomPlay(100000, -0.40036, 0.00041, 6.0037, 0.0170, 0.00437),
    "MineSweeper-Hard": RandomPlay(100000, -0.43254, 0.00026, 6.3775, 0.0185, 0.00015),
    "StatelessCartPole-Easy": RandomPlay(100000, 0.11119, 0.00019, 22.2376, 0.0375, 0.0),
    "StatelessCartPole-Medium": RandomPlay(100000, 0.05559, 0.00009, 22.2376, 0.0375, 0.0),
    "StatelessCartPole-Hard": RandomPlay(100000, 0.03706, 0.00006, 22.2376, 0.0375, 0.0),
    "NoisyStatelessCartPole-Easy": RandomPlay(100000, 0.11172, 0.00019, 22.3439, 0.0378, 0.0),
    "NoisyStatelessCartPole-Medium": RandomPlay(100000, 0.11172, 0.00019, 22.3439, 0.0378, 0.0),
    "NoisyStatelessCartPole-Hard": RandomPlay(100000, 0.11172, 0.00019, 22.3439, 0.0378, 0.0),
    "StatelessPendulum-Easy": RandomPlay(10000, 0.24534, 0.00178, 200.0, 0.0000, 1.0),
    "StatelessPendulum-Medium": RandomPlay(10000, 0.24500, 0.00183, 150.0, 0.0000, 1.0),
    "StatelessPendulum-Hard": RandomPlay(10000, 0.24246, 0.00189, 100.0, 0.0000, 1.0),
    "NoisyStatelessPendulum-Easy": RandomPlay(10000, 0.24708, 0.00176, 200.0, 0.0000, 1.0),
    "NoisyStatelessPendulum-Medium": RandomPlay(10000, 0.24708, 0.00176, 200.0, 0.0000, 1.0),
    "NoisyStatelessPendulum-Hard": RandomPlay(10000, 0.24708, 0.00176, 200.0, 0.0000, 1.0),
    "MultiarmedBandit-Easy": RandomPlay(20000, 0.00111, 0.00137, 200.0, 0.0000, 1.0),
    "MultiarmedBandit-Medium": RandomPlay(20000, 0.00071, 0.00098, 400.0, 0.0000, 1.0),
    "MultiarmedBandit-Hard": RandomPlay(20000, -0.00064, 0.00080, 600.0, 0.0000, 1.0),
}


def assert_random_play_matches_popgym(env_id: str, returns, lengths, terminated):
    """memorax's random-play episodes (`returns`, `lengths` and whether each ended
    by termination, one entry per episode) match POPGym's: the mean return, the
    mean length and the fraction truncated each lie within 4 standard errors of
    the two estimates combined; what POPGym never varies must match exactly."""
    reference = RANDOM_PLAY[env_id]
    truncated = ~np.asarray(terminated, bool)
    popgym_truncated_se = np.sqrt(
        reference.truncated_fraction * (1 - reference.truncated_fraction) / reference.episodes
    )
    for name, values, mean, standard_error in (
        ("return", returns, reference.return_mean, reference.return_se),
        ("length", lengths, reference.length_mean, reference.length_se),
        ("fraction truncated", truncated, reference.truncated_fraction, popgym_truncated_se),
    ):
        values = np.asarray(values, np.float64)
        ours = values.std(ddof=1) / np.sqrt(values.size)
        if name == "fraction truncated":
            # A fraction seen as 0 or 1 in our sample still has the spread of POPGym's.
            ours = max(ours, np.sqrt(mean * (1 - mean) / values.size))
        # float32 sums of up to ~800 rewards, against POPGym's float64 ones.
        tolerance = 4 * np.hypot(ours, standard_error) + 1e-5
        assert abs(values.mean() - mean) <= tolerance, (
            f"{env_id}: random play's mean {name} {values.mean():.4f} (standard error"
            f" {ours:.4f}, {values.size} episodes) differs from POPGym 1.0.7's"
            f" {mean:.4f} (standard error {standard_error:.4f}) by more than {tolerance:.4f}"
        )
