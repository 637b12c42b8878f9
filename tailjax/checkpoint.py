"""Training checkpoints: an orbax CheckpointManager over a run directory.

Layout (what `tailjax.model.load` reads from a run directory):

    DIR/model_config.json      HF-style architecture dict, plus "tokenizer"
    DIR/<step>/params/         the parameter tree (float32 master weights)
    DIR/<step>/opt_state/      the optimizer state
    DIR/<step>/data/           the grain iterator state (where the data stream stands)
    DIR/<step>/state/          {"step", "rng"}

Saves are asynchronous (training continues while the arrays are written) and keep the latest
`keep` steps; the temporary directories of a save that was interrupted (DIR/<step>.orbax-
checkpoint-tmp-*) are removed when training starts again. A step that cannot be read (a crash
mid-write, a corrupted file) is skipped with a warning, the one before it restored, and the unreadable step deleted, so that training saves it
again and the latest step of a finished run is always readable.
"""

from __future__ import annotations

import warnings

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp

from tailjax.paths import resolve


class Checkpoints:
    """Save and resume (params, opt_state, step, data iterator, rng) under `directory`."""

    def __init__(self, directory: str, every: int, keep: int, async_save: bool = True):
        self.directory = resolve(directory)
        self.every = every
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=max(every, 1),
            preservation_policy=ocp.checkpoint_managers.LatestN(max(keep, 1)),
            enable_async_checkpointing=async_save,
            create=True,
            cleanup_tmp_directories=True,  # what an interrupted save left behind
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._saved = set(self.manager.all_steps())

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, params, opt_state, data_iter, rng, force: bool = False) -> bool:
        """Start an asynchronous save of `step` (when due, or always with force)."""
        if step in self._saved or (not force and (self.every <= 0 or step % self.every)):
            return False
        self._saved.add(step)
        state = {"step": np.asarray(step, np.int64),
                 "rng": np.asarray(jax.random.key_data(rng))}
        return self.manager.save(step, args=ocp.args.Composite(
            params=ocp.args.StandardSave(params),
            opt_state=ocp.args.StandardSave(opt_state),
            data=grain.checkpoint.CheckpointSave(data_iter),
            state=ocp.args.StandardSave(state),
        ), force=force)

    def restore_latest(self, abstract_params, abstract_opt_state, data_iter):
        """(step, params, opt_state, rng) of the newest readable step, or None when there is none.

        The arrays are restored onto the shardings of the abstract trees (ShapeDtypeStructs), so
        no host ever holds more than its shards; `data_iter` is moved to the saved position.
        """
        unreadable = []
        for step in reversed(self.steps()):
            try:
                restored = self.manager.restore(step, args=ocp.args.Composite(
                    params=ocp.args.StandardRestore(abstract_params),
                    opt_state=ocp.args.StandardRestore(abstract_opt_state),
                    data=grain.checkpoint.CheckpointRestore(data_iter),
                    state=ocp.args.StandardRestore(),
                ))
            except Exception as e:  # any unreadable step: fall back to the previous one
                warnings.warn(f"checkpoint step {step} in {self.directory} cannot be read "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                              "falling back to the previous checkpoint and deleting this one, "
                              "so that training saves the step again", stacklevel=2)
                unreadable.append(step)
                continue
            self._delete(unreadable)
            state = restored["state"]
            rng = jax.random.wrap_key_data(np.asarray(state["rng"]))
            return int(state["step"]), restored["params"], restored["opt_state"], rng
        self._delete(unreadable)
        return None

    def _delete(self, steps: list[int]):
        """Delete unreadable steps: otherwise they stay the latest and block saving them again."""
        for step in steps:
            self.manager.delete(step)
            self._saved.discard(step)

    def wait(self):
        """Block until in-flight asynchronous saves are on disk."""
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()
