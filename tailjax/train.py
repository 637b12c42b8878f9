"""`python -m tailjax.train --config FILE [--set key=value ...]`: train Qwen2 on TAIL traces.

The loop, read top to bottom in `train`: one jitted step (`tailjax.step`: micro-batched loss,
AdamW) over a device mesh, the state started or resumed by `tailjax.train_state`, progress
reported by `tailjax.metrics`. Checkpoints are orbax (params, optimizer state, step, data
iterator, rng) and a run resumes from its latest one. SIGTERM saves and exits; a non-finite
loss stops the run without saving, so the last good checkpoint stays the latest. At the end the
demo evaluates pass@1 on S/M/L and prints the table.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import jax
import numpy as np
from flax import nnx

from tailjax.config import Config, load_config, to_dict
from tailjax.host import data_shard, make_global_batch
from tailjax.metrics import LOSS_PLOT, Reporter, plot_loss
from tailjax.model import sharding
from tailjax.paths import resolve
from tailjax.step import make_eval_step, make_optimizer
from tailjax.train_state import Layout, jit_train_step, layout, model_config, start


class NonFiniteLoss(RuntimeError):
    """The loss or gradient norm is NaN/inf: the run stops without saving that step."""


@dataclass
class Result:
    steps: int                 # the step the run ended at
    status: str                # "done", "sigterm", "exhausted" (data ran out)
    losses: list[float]        # per-step training losses of this invocation
    eval: dict | None = None


def train(cfg: Config, progress: bool = True, say: Callable[[str], None] | None = None) -> Result:
    """Train (resuming from out_dir's latest checkpoint) and, when configured, evaluate.

    Raises ValueError for a config that cannot run (vocabulary, batch split, empty data) and
    NonFiniteLoss when a step's loss or gradient norm is not finite.
    """
    from tailjax.tokenizer import load_tokenizer

    say = say or _say_on_main
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    model_cfg, _ = model_config(cfg)
    mesh = sharding.make_mesh(cfg.mesh.shape)
    _check_fit(cfg, tokenizer, model_cfg, mesh)
    steps = total_steps(cfg, tokenizer)
    tx, schedule = make_optimizer(cfg.train, steps)
    where = layout(model_cfg, tx, mesh)
    ckpts = _open_run(cfg, model_cfg)
    data_iter, encoder, shard_count = _data(cfg, tokenizer, where)
    state = start(cfg, model_cfg, tx, where, mesh, ckpts, data_iter)
    if state.resumed:
        say(f"resumed from step {state.step} of {ckpts.directory}")
    step_fn = jit_train_step(where, tx, cfg.train.micro_batches, cfg.train.loss_chunk)
    validate = _validation(cfg, tokenizer, where)
    report = Reporter(cfg, model_cfg, steps, state.step, progress)
    say(f"model {_count(where.params) / 1e6:.2f}M parameters; {steps} steps of "
        f"{cfg.train.batch_size} x {cfg.data.max_length} tokens on mesh {dict(mesh.shape)}")

    step, params, opt_state, rng = state.step, state.params, state.opt_state, state.rng
    losses: list[float] = []
    status = "done"
    with jax.set_mesh(mesh), _Sigterm() as sigterm:
        clock = time.perf_counter()
        while step < steps:
            host_batch = next(data_iter, None)
            if host_batch is None:
                status = _exhausted(cfg, step, state, say)
                break
            batch = make_global_batch(host_batch, where.batch)
            params, opt_state, metrics = step_fn(params, opt_state, batch)
            metrics = jax.device_get(metrics)
            loss, grad_norm = float(metrics["loss"]), float(metrics["grad_norm"])
            step += 1
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                _stop_non_finite(step, loss, grad_norm, ckpts, report)
            rng = jax.random.fold_in(rng, step)
            tokens = int(np.sum(host_batch["segment_ids"] > 0)) * shard_count
            report.step(step, loss, grad_norm, float(schedule(step - 1)), tokens,
                        time.perf_counter() - clock)
            losses.append(loss)
            if validate and step % cfg.train.val_every == 0:
                report.validation(step, validate(params))
            ckpts.save(step, params, opt_state, data_iter, rng, force=step == steps)
            clock = time.perf_counter()  # validation and saving do not count against tokens/s
            if sigterm.received:
                status = "sigterm"
                ckpts.save(step, params, opt_state, data_iter, rng, force=True)
                break
        report.close()
        ckpts.close()
    return _finish(cfg, Result(step, status, losses), encoder, report, ckpts, where.graphdef,
                   params, tokenizer, mesh, progress, say)


def total_steps(cfg: Config, tokenizer) -> int:
    """train.steps, else train.epochs over the data (at least 1)."""
    if cfg.train.steps is not None:
        return cfg.train.steps
    from tailjax.data.pipeline import steps_per_epoch

    return max(1, math.ceil(cfg.train.epochs * steps_per_epoch(cfg, tokenizer)))


def _say_on_main(text: str):
    if jax.process_index() == 0:
        print(text, file=sys.stderr)


def _count(tree) -> int:
    return sum(x.size for x in jax.tree.leaves(tree))


def _check_fit(cfg: Config, tokenizer, model_cfg, mesh):
    """ValueError when the tokenizer outgrows the model's vocabulary or a micro-batch's rows do
    not split over the data shards."""
    from tailjax.host import forced_cpu_devices

    if tokenizer.vocab_size > model_cfg.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab "
                         f"is {model_cfg.vocab_size}; raise model.overrides.vocab_size")
    shards = math.prod(mesh.shape[a] for a in ("data", "fsdp") if a in mesh.shape)
    rows = cfg.train.batch_size // cfg.train.micro_batches
    if rows % shards:
        forced = forced_cpu_devices()
        source = (f" (the {jax.device_count()} CPU devices come from XLA_FLAGS' {forced}: "
                  f"unset it, or set mesh.cpu_devices)" if forced else "")
        raise ValueError(f"train.batch_size / train.micro_batches = {rows} rows per micro-batch "
                         f"do not split over {shards} data shards{source}; make it a multiple "
                         f"of {shards}")


def _open_run(cfg: Config, model_cfg):
    """out_dir/config.yaml, the checkpoints' model_config.json, and the run's Checkpoints."""
    from tailjax.checkpoint import Checkpoints
    from tailjax.model.loading import write_model_config

    out_dir = resolve(cfg.train.out_dir)
    ckpt_dir = str(out_dir / "checkpoints")
    if jax.process_index() == 0:
        import yaml

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        write_model_config(model_cfg, ckpt_dir, cfg.model.tokenizer)  # creates the directory
    return Checkpoints(ckpt_dir, cfg.checkpoint.every, cfg.checkpoint.keep)


def _data(cfg: Config, tokenizer, where: Layout):
    """(iterator of this process's host batches, its Encoder, the number of data shards)."""
    from tailjax.data.pipeline import train_batches

    # This process's rows of each global batch: processes whose devices hold the same rows (a
    # model axis spanning hosts) share a data shard and load the same records.
    shard, shard_count = data_shard(where.batch)
    data, encoder = train_batches(cfg, tokenizer, shard, shard_count)
    return iter(data), encoder, shard_count


def _validation(cfg: Config, tokenizer, where: Layout):
    """params -> mean token loss over the validation set; None when train.val_every is 0."""
    from tailjax.data.pipeline import validation_batches

    val = validation_batches(cfg, tokenizer) if cfg.train.val_every else []
    if not val:
        return None
    eval_fn = jax.jit(make_eval_step(where.graphdef, cfg.train.loss_chunk),
                      in_shardings=(where.param_shardings, where.batch))

    def validate(params) -> float:
        sums = [jax.device_get(eval_fn(params, make_global_batch(b, where.batch))) for b in val]
        return sum(float(s) for s, _ in sums) / max(sum(float(n) for _, n in sums), 1)
    return validate


def _exhausted(cfg: Config, step: int, state, say) -> str:
    """The data ran out: an error when it was empty from a fresh start, else status exhausted."""
    if step == state.step and not state.resumed:
        raise ValueError(
            "the training data is empty: every record was dropped (longer than "
            f"data.max_length = {cfg.data.max_length}, or a test instance of a small "
            "length range); widen data.lengths or raise data.max_length")
    say(f"the data ran out after step {step} (train.epochs = {cfg.train.epochs})")
    return "exhausted"


def _stop_non_finite(step: int, loss: float, grad_norm: float, ckpts, report):
    """Close the run without saving this step and raise NonFiniteLoss."""
    ckpts.wait()
    latest = ckpts.latest_step()
    ckpts.close()
    report.close()
    raise NonFiniteLoss(
        f"non-finite loss at step {step} (loss {loss}, grad norm {grad_norm}); the step was not "
        f"saved, the latest checkpoint is {'step ' + str(latest) if latest is not None else 'none'}"
        ". Lower train.lr, check the data, or resume from the checkpoint with another data.seed")


def _finish(cfg, result: Result, encoder, report, ckpts, graphdef, params, tokenizer, mesh,
            progress, say) -> Result:
    """After the loop: what was dropped, the loss plot, and the end-of-run evaluation."""
    if encoder.dropped:
        say(f"dropped {encoder.dropped} samples longer than data.max_length = "
            f"{cfg.data.max_length} tokens (never truncated)")
    if result.status == "sigterm":
        say(f"SIGTERM: saved step {result.steps} to {ckpts.directory}; run the same command to "
            "resume")
        return result
    if jax.process_index() == 0 and report.log.path.exists():
        plot_loss(report.log.path, resolve(cfg.train.out_dir) / LOSS_PLOT)
    if cfg.eval.at_end:
        result.eval = evaluate_at_end(cfg, graphdef, params, tokenizer, mesh, progress, say)
    return result


class _Sigterm:
    """Turns SIGTERM into a flag the loop checks after each step."""

    def __init__(self):
        self.received = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._old = None
        return self

    def _handle(self, signum, frame):
        self.received = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def evaluate_at_end(cfg: Config, graphdef, params, tokenizer, mesh, progress, say) -> dict:
    """pass@1 on the eval splits (the demo's reduced ranges); writes out_dir/eval and prints."""
    from tailjax.eval import eval_options, evaluate
    from tailjax.results import results_markdown, write_results

    model = nnx.merge(graphdef, params)
    results = evaluate(model, tokenizer, list(cfg.data.tasks), **eval_options(cfg),
                       mesh=mesh if jax.device_count() > 1 else None, progress=progress,
                       warn=lambda line: say(f"warning: {line}"))
    # Every process holds the same results; one writes and prints them.
    results["files"] = []
    if jax.process_index() == 0:
        results["files"] = write_results(results, str(resolve(cfg.train.out_dir) / "eval"))
        print(results_markdown(results))
    return results


# ---- command line -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tailjax.train", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="YAML config (e.g. configs/demo.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.steps=100 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    from tailjax import distributed

    distributed.add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None, *, as_program: bool = False) -> int:
    """The command line. as_program: this process is `python -m tailjax.train` and may re-exec
    itself (a CPU run restarts once with huge-page malloc, see `malloc.restart_with_huge_pages`).
    """
    args = build_parser().parse_args(argv)
    from tailjax import distributed
    from tailjax.host import use_cpu_devices
    from tailjax.model.speed import fast_paths

    try:
        cfg = load_config(args.config, args.set)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    use_cpu_devices(cfg.mesh.cpu_devices, huge_pages=as_program and fast_paths(backend="cpu"))

    def run():
        distributed.initialize_from_args(args)  # bad flags are user errors too
        train(cfg, progress=not args.no_progress)
    return exit_status(run)


def exit_status(run: Callable[[], object]) -> int:
    """The exit status of a training program whose work is `run()`: 0 when it returns; for a
    ValueError (a bad config, flag or input) one `error:` line on stderr and 2; for
    NonFiniteLoss one line and 1."""
    try:
        run()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLoss as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(as_program=True))
