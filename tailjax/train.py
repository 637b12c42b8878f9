"""`python -m tailjax.train --config FILE [--set key=value ...]`: train Qwen2 on TAIL traces.

One jitted step (nnx.split / jax.jit / nnx.merge) over a device mesh: the batch is split into
micro-batches whose token losses and token counts are summed before one divide, then AdamW
(warmup + decay to a final lr, weight decay, clipping) updates the float32 master weights while
the model computes in the configured dtype. Checkpoints are orbax (params, optimizer state, step,
data iterator, rng) and a run resumes from its latest one. SIGTERM saves and exits; a non-finite
loss stops the run without saving, so the last good checkpoint stays the latest. At the end the
demo evaluates pass@1 on S/M/L and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from tailjax.config import Config, arch, load_config, to_dict
from tailjax.paths import is_uri, resolve

LOG_FILE = "train_log.jsonl"
HOST_DEVICES = re.compile(r"--xla_force_host_platform_device_count=\d+")
LOSS_PLOT = "loss.png"
# Dense bf16 peak TFLOP/s per device, for the MFU estimate (device_kind prefix -> peak).
PEAK_TFLOPS = {"TPU v4": 275.0, "TPU v5 lite": 197.0, "TPU v5e": 197.0, "TPU v5p": 459.0,
               "TPU v5": 459.0, "TPU v6 lite": 918.0, "TPU v6e": 918.0, "NVIDIA H100": 989.0,
               "NVIDIA H200": 989.0, "NVIDIA A100": 312.0}


class NonFiniteLoss(RuntimeError):
    """The loss or gradient norm is NaN/inf: the run stops without saving that step."""


# ---- the step -----------------------------------------------------------------------------------

def loss_sums(graphdef, params, batch):
    """(sum of token losses, number of loss tokens) of one batch; loss_mask weighs each token."""
    model = nnx.merge(graphdef, params)
    # The prompt's tokens but its last carry no loss weight (see data.pipeline.Encoder).
    prompt = (batch["loss_mask"] == 0) & (batch["segment_ids"] != 0)
    logits = model(batch["inputs"], batch["positions"], batch["segment_ids"], prompt_mask=prompt)
    logz = jax.nn.logsumexp(logits, axis=-1)
    target = jnp.take_along_axis(logits, batch["targets"][..., None], axis=-1)[..., 0]
    weights = batch["loss_mask"].astype(jnp.float32)
    return jnp.sum((logz - target) * weights), jnp.sum(weights)


def split_micro(batch, micro_batches: int):
    """[rows, T] -> [micro, rows / micro, T], row r going to micro-batch r % micro, so every
    micro-batch keeps rows on every data shard."""
    def one(x):
        rows = x.shape[0]
        return x.reshape(rows // micro_batches, micro_batches, *x.shape[1:]).swapaxes(0, 1)
    return jax.tree.map(one, batch)


def grads_and_loss(graphdef, params, batch, micro_batches: int):
    """Gradient of the mean token loss over the whole batch, accumulated over micro-batches:
    token-loss sums and token counts are summed first and divided once at the end."""
    grad_fn = jax.value_and_grad(lambda p, b: loss_sums(graphdef, p, b), has_aux=True)
    if micro_batches == 1:
        (loss_sum, count), grads = grad_fn(params, batch)
    else:
        def body(carry, micro):
            g_acc, l_acc, n_acc = carry
            (l, n), g = grad_fn(params, micro)
            return (jax.tree.map(jnp.add, g_acc, g), l_acc + l, n_acc + n), None

        zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
        (grads, loss_sum, count), _ = jax.lax.scan(
            body, (zeros, jnp.float32(0), jnp.float32(0)), split_micro(batch, micro_batches))
    count = jnp.maximum(count, 1.0)
    grads = jax.tree.map(lambda g: g / count, grads)
    return grads, loss_sum / count, count


def make_optimizer(train_cfg, total_steps: int):
    """(AdamW with clipping, lr schedule): linear warmup, then cosine or linear decay to final_lr."""
    warmup = min(train_cfg.warmup_steps, max(total_steps - 1, 0))
    decay_steps = max(total_steps - warmup, 1)
    if train_cfg.schedule == "cosine":
        decay = optax.cosine_decay_schedule(train_cfg.lr, decay_steps,
                                            alpha=train_cfg.final_lr / train_cfg.lr)
    else:
        decay = optax.linear_schedule(train_cfg.lr, train_cfg.final_lr, decay_steps)
    warm = optax.linear_schedule(train_cfg.lr / max(warmup, 1), train_cfg.lr, max(warmup - 1, 1))
    schedule = optax.join_schedules([warm, decay], [warmup]) if warmup else decay
    parts = [optax.clip_by_global_norm(train_cfg.clip_norm)] if train_cfg.clip_norm > 0 else []
    parts.append(optax.adamw(schedule, b1=train_cfg.b1, b2=train_cfg.b2,
                             weight_decay=train_cfg.weight_decay, mask=decay_mask))
    return optax.chain(*parts), schedule


def decays(name: str) -> bool:
    """Whether the parameter named `name` ("layers/attn_norm", "layers/3/q_bias", ...) gets weight
    decay: weight matrices do, norm scales and biases do not (the usual LLM recipe). Chosen by the
    parameter's role, not its number of dimensions, which stacking the layers changes."""
    role = name.rsplit("/", 1)[-1]
    return not (role.endswith("norm") or role.endswith("bias"))


def decay_mask(params):
    """A tree of bools like `params` (stacked or per-layer layout): True where weight decays."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: decays("/".join(str(getattr(k, "key", getattr(k, "idx", k)))
                                        for k in path)), params)


def make_train_step(graphdef, tx, micro_batches: int):
    def step(params, opt_state, batch):
        grads, loss, count = grads_and_loss(graphdef, params, batch, micro_batches)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "grad_norm": grad_norm, "tokens": count}
    return step


def make_eval_step(graphdef):
    def step(params, batch):
        return loss_sums(graphdef, params, batch)
    return step


# ---- model, shardings, state --------------------------------------------------------------------

def model_config(cfg: Config, allow_missing_init: bool = False):
    """(runtime Qwen2Config, HF-style dict) from the init checkpoint, else from the preset.

    allow_missing_init: use the preset when model.init does not exist yet (for planning).
    """
    from tailjax.model.qwen2_config import Qwen2Config

    runtime = dict(dtype=cfg.model.dtype, param_dtype="float32", remat=cfg.model.remat,
                   scan_layers=cfg.model.scan_layers)
    if cfg.model.init and not (allow_missing_init and not resolve(cfg.model.init).is_dir()):
        hf = _checkpoint_arch(cfg.model.init)
    else:
        hf = arch(cfg)
    return Qwen2Config.from_hf(hf, **runtime), hf


def _checkpoint_arch(path: str) -> dict:
    for name in ("model_config.json", "config.json"):
        file = resolve(path) / name
        if file.exists():
            return json.loads(file.read_text())
    raise ValueError(f"model.init {path} has neither model_config.json nor config.json; point it "
                     "at an HF directory or a checkpoint written by `python -m tailjax.convert`")


def opt_shardings(tx, abstract_params, p_shardings, mesh):
    """Optimizer state shardings: moments like their parameters, counters replicated."""
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    abstract_opt = jax.eval_shape(tx.init, abstract_params)
    return optax.tree_map_params(tx, lambda _, s: s, abstract_opt, p_shardings,
                                 transform_non_params=lambda _: replicated)


def init_params(cfg: Config, model_cfg, p_shardings, mesh):
    """float32 master weights, created (or loaded) directly onto their shardings."""
    from tailjax import model as model_lib

    if cfg.model.init:
        loaded = model_lib.load(cfg.model.init, dtype=cfg.model.dtype, mesh=mesh,
                                param_dtype="float32")
        return jax.device_put(model_lib.params_of(loaded), p_shardings)
    return model_lib.params_of(model_lib.create(model_cfg, cfg.train.seed, mesh))


def split_model(model_cfg):
    """(graph definition, abstract parameter tree) of the model, nothing allocated."""
    from tailjax.model import abstract_model, params_of

    graphdef, _ = nnx.split(abstract_model(model_cfg))
    return graphdef, params_of(abstract_model(model_cfg))


def _abstract(tree, shardings):
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        tree, shardings)


# ---- logging ------------------------------------------------------------------------------------

def flops_per_token(model_cfg, seq_len: int) -> float:
    """Training FLOPs per token: 6 x matmul parameters + the attention scores and values."""
    from tailjax.model.qwen2 import count_params

    n = count_params(model_cfg)
    if not model_cfg.tie_word_embeddings:
        n -= model_cfg.vocab_size * model_cfg.hidden_size  # the lookup table does no matmul
    attn = 12 * model_cfg.num_hidden_layers * model_cfg.num_attention_heads * \
        model_cfg.head_dim * seq_len
    return 6.0 * n + attn


def peak_flops(train_cfg) -> float:
    """Peak FLOP/s of all devices: train.peak_tflops, else known accelerators, else 0 (no MFU)."""
    per_device = train_cfg.peak_tflops
    if not per_device:
        kind = jax.devices()[0].device_kind
        per_device = next((v for k, v in PEAK_TFLOPS.items() if kind.startswith(k)), 0.0)
    return per_device * 1e12 * jax.device_count()


class Log:
    """Per-step records in out_dir/train_log.jsonl (process 0 only)."""

    def __init__(self, out_dir: str, resume_step: int):
        self.path = resolve(out_dir) / LOG_FILE
        self.main = jax.process_index() == 0
        # Cloud storage has no append: there the log keeps its records and rewrites the file.
        self.uri = is_uri(self.path)
        self.records: list[dict] = []
        if not self.main:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Drop the records of steps a resume will redo.
        kept = [r for r in read_log(self.path) if r["step"] <= resume_step] \
            if resume_step and self.path.exists() else []
        self.path.write_text(_jsonl(kept))
        if self.uri:
            self.records = kept

    def write(self, record: dict):
        if not self.main:
            return
        if self.uri:
            self.records.append(record)
            if len(self.records) % 10 == 0 or "val_loss" in record:  # only every so often
                self.flush()
        else:
            with self.path.open("a") as f:
                f.write(_jsonl([record]))

    def flush(self):
        if self.main and self.uri:
            self.path.write_text(_jsonl(self.records))

    def close(self):
        self.flush()


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def read_log(path) -> list[dict]:
    return [json.loads(line) for line in resolve(path).read_text().splitlines() if line.strip()]


def plot_loss(log_path: str, out_path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), label="train", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats / completion token)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with resolve(out_path).open("wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


# ---- the run ------------------------------------------------------------------------------------

@dataclass
class Result:
    steps: int                 # the step the run ended at
    status: str                # "done", "sigterm", "exhausted" (data ran out)
    losses: list[float]        # per-step training losses of this invocation
    eval: dict | None = None


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


def total_steps(cfg: Config, tokenizer) -> int:
    if cfg.train.steps is not None:
        return cfg.train.steps
    from tailjax.data.pipeline import steps_per_epoch

    return max(1, math.ceil(cfg.train.epochs * steps_per_epoch(cfg, tokenizer)))


def train(cfg: Config, progress: bool = True, say: Callable[[str], None] | None = None) -> Result:
    """Train (resuming from out_dir's latest checkpoint) and, when configured, evaluate."""
    from tqdm import tqdm

    from tailjax.checkpoint import Checkpoints, write_model_config
    from tailjax.data.pipeline import train_batches, validation_batches
    from tailjax.distributed import data_shard
    from tailjax.model import sharding
    from tailjax.tokenizer import load_tokenizer

    say = say or (lambda text: print(text, file=sys.stderr) if jax.process_index() == 0 else None)
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    model_cfg, hf = model_config(cfg)
    if tokenizer.vocab_size > model_cfg.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab "
                         f"is {model_cfg.vocab_size}; raise model.overrides.vocab_size")
    mesh = sharding.make_mesh(cfg.mesh.shape)
    shards = math.prod(mesh.shape[a] for a in ("data", "fsdp") if a in mesh.shape)
    rows = cfg.train.batch_size // cfg.train.micro_batches
    if rows % shards:
        forced = HOST_DEVICES.search(os.environ.get("XLA_FLAGS", ""))
        source = (f" (the {jax.device_count()} CPU devices come from XLA_FLAGS' "
                  f"{forced.group(0)}: unset it, or set mesh.cpu_devices)"
                  if forced and jax.default_backend() == "cpu" else "")
        raise ValueError(f"train.batch_size / train.micro_batches = {rows} rows per micro-batch "
                         f"do not split over {shards} data shards{source}; make it a multiple "
                         f"of {shards}")
    steps = total_steps(cfg, tokenizer)
    tx, schedule = make_optimizer(cfg.train, steps)
    graphdef, abstract_params = split_model(model_cfg)
    p_sh = sharding.param_shardings(model_cfg, mesh)
    o_sh = opt_shardings(tx, abstract_params, p_sh, mesh)
    batch_sh = sharding.batch_sharding(mesh, 2)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    out_dir = resolve(cfg.train.out_dir)
    if jax.process_index() == 0:
        import yaml

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    ckpt_dir = str(out_dir / "checkpoints")
    write_model_config(ckpt_dir, model_cfg, cfg.model.tokenizer)
    ckpts = Checkpoints(ckpt_dir, cfg.checkpoint.every, cfg.checkpoint.keep)

    # This process's rows of each global batch: processes whose devices hold the same rows (a
    # model axis spanning hosts) share a data shard and load the same records.
    shard, shards = data_shard(batch_sh)
    data, encoder = train_batches(cfg, tokenizer, shard, shards)
    data_iter = iter(data)
    rng = jax.random.key(cfg.train.seed)
    start = 0
    restored = None
    if cfg.checkpoint.resume and ckpts.latest_step() is not None:
        restored = ckpts.restore_latest(_abstract(abstract_params, p_sh),
                                        _abstract(jax.eval_shape(tx.init, abstract_params), o_sh),
                                        data_iter)
    if restored is not None:
        start, params, opt_state, rng = restored
        say(f"resumed from step {start} of {ckpts.directory}")
    else:
        params = init_params(cfg, model_cfg, p_sh, mesh)
        opt_state = jax.jit(tx.init, out_shardings=o_sh)(params)

    step_fn = jax.jit(make_train_step(graphdef, tx, cfg.train.micro_batches),
                      in_shardings=(p_sh, o_sh, batch_sh), out_shardings=(p_sh, o_sh, replicated),
                      donate_argnums=(0, 1))
    eval_fn = jax.jit(make_eval_step(graphdef), in_shardings=(p_sh, batch_sh))
    val = validation_batches(cfg, tokenizer) if cfg.train.val_every else []
    log = Log(cfg.train.out_dir, start)
    fpt = flops_per_token(model_cfg, cfg.data.max_length)
    peak = peak_flops(cfg.train)
    n_params = sum(x.size for x in jax.tree.leaves(abstract_params))
    say(f"model {n_params / 1e6:.2f}M parameters; {steps} steps of {cfg.train.batch_size} x "
        f"{cfg.data.max_length} tokens on mesh {dict(mesh.shape)}")

    losses: list[float] = []
    status = "done"
    bar = tqdm(total=steps, initial=start, desc="train", unit="step", file=sys.stderr,
               disable=not progress or jax.process_index() != 0, dynamic_ncols=True)
    with jax.set_mesh(mesh), _Sigterm() as sigterm:
        step = start
        last = time.perf_counter()
        while step < steps:
            try:
                host_batch = next(data_iter)
            except StopIteration:
                if step == start and restored is None:
                    raise ValueError(
                        "the training data is empty: every record was dropped (longer than "
                        f"data.max_length = {cfg.data.max_length}, or a test instance of a small "
                        "length range); widen data.lengths or raise data.max_length") from None
                status = "exhausted"
                say(f"the data ran out after step {step} (train.epochs = {cfg.train.epochs})")
                break
            batch = sharding.shard_batch(host_batch, mesh)
            params, opt_state, metrics = step_fn(params, opt_state, batch)
            metrics = jax.device_get(metrics)
            loss, grad_norm = float(metrics["loss"]), float(metrics["grad_norm"])
            step += 1
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                ckpts.wait()
                latest = ckpts.latest_step()
                ckpts.close()
                bar.close()
                log.close()
                raise NonFiniteLoss(
                    f"non-finite loss at step {step} (loss {loss}, grad norm {grad_norm}); the "
                    f"step was not saved, the latest checkpoint is "
                    f"{'step ' + str(latest) if latest is not None else 'none'}. Lower train.lr, "
                    "check the data, or resume from the checkpoint with another data.seed")
            rng = jax.random.fold_in(rng, step)
            now = time.perf_counter()
            seconds, last = now - last, now
            tokens = int(np.sum(host_batch["segment_ids"] > 0)) * shards
            record = {"step": step, "loss": loss, "lr": float(schedule(step - 1)),
                      "grad_norm": grad_norm, "tokens": tokens,
                      "tokens_per_s": tokens / seconds, "seconds": seconds}
            if peak:
                record["mfu"] = tokens * fpt / seconds / peak
            log.write(record)
            losses.append(loss)
            bar.update(1)
            if step % cfg.train.log_every == 0 or step == steps:
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{record['lr']:.2e}",
                                gnorm=f"{grad_norm:.2f}", tok_s=f"{tokens / seconds:,.0f}",
                                **({"mfu": f"{record['mfu']:.1%}"} if peak else {}))
            if val and step % cfg.train.val_every == 0:
                sums = [jax.device_get(eval_fn(params, sharding.shard_batch(b, mesh)))
                        for b in val]
                val_loss = sum(float(s) for s, _ in sums) / max(sum(float(n) for _, n in sums), 1)
                log.write({"step": step, "val_loss": val_loss})
                bar.write(f"step {step}: validation loss {val_loss:.4f}")
            ckpts.save(step, params, opt_state, data_iter, rng, force=step == steps)
            last = time.perf_counter()  # validation and saving do not count against tokens/s
            if sigterm.received:
                status = "sigterm"
                ckpts.save(step, params, opt_state, data_iter, rng, force=True)
                break
        bar.close()
        ckpts.close()
        log.close()
    if encoder.dropped:
        say(f"dropped {encoder.dropped} samples longer than data.max_length = "
            f"{cfg.data.max_length} tokens (never truncated)")
    if status == "sigterm":
        say(f"SIGTERM: saved step {step} to {ckpts.directory}; run the same command to resume")
        return Result(step, status, losses)
    if jax.process_index() == 0 and log.path.exists():
        plot_loss(log.path, out_dir / LOSS_PLOT)
    result = Result(step, status, losses)
    if cfg.eval.at_end:
        result.eval = evaluate_at_end(cfg, graphdef, params, tokenizer, mesh, progress, say)
    return result


def evaluate_at_end(cfg: Config, graphdef, params, tokenizer, mesh, progress, say) -> dict:
    """pass@1 on the eval splits (the demo's reduced ranges); writes out_dir/eval and prints."""
    from tailjax.eval import eval_options, evaluate, results_markdown, write_results

    model = nnx.merge(graphdef, params)
    results = evaluate(model, tokenizer, list(cfg.data.tasks), **eval_options(cfg),
                       mesh=mesh if jax.device_count() > 1 else None, progress=progress)
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


def use_cpu_devices(count: int, huge_pages: bool = False):
    """Split a CPU-only host into `count` single-threaded devices; must run before JAX starts
    its backend (XLA reads XLA_FLAGS then). The config's count replaces a device count inherited
    in XLA_FLAGS (such as the tests' 8); count 0 leaves XLA_FLAGS alone.

    huge_pages: first restart this process once with huge-page malloc (for training, see
    `malloc.restart_with_huge_pages`); only a program's own entry point may ask for that.
    """
    if count <= 0:
        return
    if huge_pages:
        from tailjax import malloc

        malloc.restart_with_huge_pages()
    flags = HOST_DEVICES.sub("", os.environ.get("XLA_FLAGS", "")).split()
    flags.append(f"--xla_force_host_platform_device_count={count}")
    if not any(f.startswith("--xla_cpu_multi_thread_eigen") for f in flags):
        flags.append("--xla_cpu_multi_thread_eigen=false")
    os.environ["XLA_FLAGS"] = " ".join(flags)


def main(argv: Sequence[str] | None = None, *, as_program: bool = False) -> int:
    """The command line. as_program: this process is `python -m tailjax.train` and may re-exec
    itself (a CPU run restarts once with huge-page malloc, see `malloc.restart_with_huge_pages`).
    """
    args = build_parser().parse_args(argv)
    from tailjax import distributed

    try:
        cfg = load_config(args.config, args.set)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    use_cpu_devices(cfg.mesh.cpu_devices, huge_pages=as_program)
    try:
        distributed.initialize_from_args(args)  # bad flags are user errors too
        train(cfg, progress=not args.no_progress)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLoss as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(as_program=True))
