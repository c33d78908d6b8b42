"""Orbax checkpoints of a whole training state: the latest `keep` checkpoints and the
best `keep_best` by evaluation return, together (orbax's `max_to_keep` with a `best_fn`
alone keeps the best and evicts the newest, which breaks resuming).

A checkpoint holds the state (typed PRNG keys stored as their key data, which orbax
restores reliably), and JSON metadata: the experiment it was trained under, so that a
resume under a changed experiment is refused with what changed. Saves are waited for,
so an error of orbax's writer thread surfaces at `save`, and a checkpoint that was
being written when the process died is never listed (orbax finalises a step by an
atomic rename).
"""

from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

BEST_METRIC = "evaluation_return"
# What a resumed run must share with the run that wrote the checkpoint; the budget,
# schedules of evaluation and checkpoints, and tracking may change between the two.
FIXED_SECTIONS = ("environment", "algorithm", "network", "optimizer", "seeds")


class CheckpointMismatch(ValueError):
    """A checkpoint written under another experiment than the one resuming."""


def is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def keys_as_data(tree):
    return jax.tree.map(lambda x: jax.random.key_data(x) if is_key(x) else x, tree)


def keys_from_data(tree, like):
    return jax.tree.map(lambda x, template: jax.random.wrap_key_data(x) if is_key(template) else x, tree, like)


def changed_fields(before, after, prefix: str = "") -> list[str]:
    """Dotted fields whose values differ between two resolved experiments."""
    if isinstance(before, dict) and isinstance(after, dict):
        changed = []
        for key in sorted(set(before) | set(after), key=str):
            field = f"{prefix}.{key}" if prefix else str(key)
            if key not in before or key not in after:
                changed.append(f"{field} ({'added' if key not in before else 'removed'})")
            else:
                changed += changed_fields(before[key], after[key], field)
        return changed
    return [] if before == after else [f"{prefix} was {before!r}, is {after!r}"]


class Checkpoints:
    """The checkpoints of one experiment's run in `directory` (made absolute)."""

    def __init__(self, directory: Path | str, experiment: dict, keep: int = 2, keep_best: int = 1):
        self.directory = Path(directory).resolve()
        self.experiment = experiment
        policies = [checkpoint_managers.LatestN(n=keep)]
        if keep_best:
            policies.append(
                checkpoint_managers.BestN(
                    get_metric_fn=lambda metrics: metrics[BEST_METRIC],
                    n=keep_best,
                    keep_checkpoints_without_metrics=False,
                )
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=checkpoint_managers.AnyPreservationPolicy(policies),
            # also makes orbax write each step's metrics, so a restarted run still
            # knows which checkpoint is the best
            best_fn=lambda metrics: metrics[BEST_METRIC],
            best_mode="max",
            create=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        """The kept step with the highest evaluation return (None without any)."""
        scored = [(metrics[BEST_METRIC], step) for step in self.steps() if (metrics := self._manager.metrics(step))]
        return max(scored)[1] if scored else None

    def save(self, step: int, state, metadata: dict, evaluation_return: float | None = None) -> None:
        """Write `state` at env step `step` and wait for it: errors surface here."""
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(keys_as_data(state)),
                metadata=ocp.args.JsonSave({**metadata, "experiment": self.experiment}),
            ),
            metrics=None if evaluation_return is None else {BEST_METRIC: float(evaluation_return)},
            force=True,
        )
        self._manager.wait_until_finished()

    def metadata(self, step: int) -> dict:
        restored = self._manager.restore(step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore()))
        return restored.metadata

    def restore(self, step: int, like):
        """The state saved at `step`, shaped and typed as `like` (e.g. `jax.eval_shape`
        of the initial state), and its metadata. Refuses a checkpoint of another
        experiment (CheckpointMismatch naming what changed)."""
        metadata = self.metadata(step)
        saved = {section: metadata["experiment"].get(section) for section in FIXED_SECTIONS}
        current = {section: self.experiment.get(section) for section in FIXED_SECTIONS}
        changed = changed_fields(saved, current)
        if changed:
            raise CheckpointMismatch(
                f"{self.directory}: the checkpoint at step {step} was written under another experiment "
                f"({'; '.join(changed)}). Restore the file, or train into another results directory."
            )
        target = jax.eval_shape(keys_as_data, like)
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))
        )
        return keys_from_data(restored.state, like), metadata

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
