"""What a training run reports: per-step records in out_dir/train_log.jsonl, the loss plot, and
the model FLOPs utilization (MFU) estimate."""

from __future__ import annotations

import sys

import jax

from tailjax.paths import is_uri, jsonl_text, read_jsonl, resolve
from tailjax.plots import pyplot, save_png

LOG_FILE = "train_log.jsonl"
LOSS_PLOT = "loss.png"
# Dense bf16 peak TFLOP/s per device, for the MFU estimate (device_kind prefix -> peak).
PEAK_TFLOPS = {"TPU v4": 275.0, "TPU v5 lite": 197.0, "TPU v5e": 197.0, "TPU v5p": 459.0,
               "TPU v5": 459.0, "TPU v6 lite": 918.0, "TPU v6e": 918.0, "NVIDIA H100": 989.0,
               "NVIDIA H200": 989.0, "NVIDIA A100": 312.0}


def flops_per_token(model_cfg, seq_len: int) -> float:
    """Model FLOPs of training per token (forward and backward): 6 N + 12 L T (heads x
    head_dim), N the parameters that take part in a matmul (an untied input embedding is a
    lookup and does not), L layers, T the row length (seq_len). PaLM's count (arXiv 2204.02311
    appendix B), as MaxText reports it; it leaves out remat's recomputation and counts full
    (not causal-halved) attention."""
    attn = 12 * model_cfg.num_hidden_layers * model_cfg.num_attention_heads * \
        model_cfg.head_dim * seq_len
    return 6.0 * matmul_params(model_cfg) + attn


def matmul_params(model_cfg) -> int:
    """N of `flops_per_token`: the parameters that take part in a matmul (an untied input
    embedding is a lookup table and does not)."""
    from tailjax.model.qwen2 import count_params

    n = count_params(model_cfg)
    if not model_cfg.tie_word_embeddings:
        n -= model_cfg.vocab_size * model_cfg.hidden_size
    return n


# Peak memory bandwidth per chip, TB/s (vendors' datasheets: H100 SXM 3.35, H200 4.8, A100 80GB
# SXM 2.04; TPU v4 1.2, v5e 0.82, v5p 2.77, v6e 1.64): the roofline of decoding, which reads every
# weight and the KV cache once per step.
PEAK_TBPS = {"TPU v4": 1.2, "TPU v5 lite": 0.82, "TPU v5e": 0.82, "TPU v5p": 2.77,
             "TPU v5": 2.77, "TPU v6 lite": 1.64, "TPU v6e": 1.64, "NVIDIA H100": 3.35,
             "NVIDIA H200": 4.8, "NVIDIA A100": 2.04}


def device_peak_tflops(kind: str) -> float:
    """Dense bf16 peak TFLOP/s of a jax device_kind (PEAK_TFLOPS by prefix); 0.0 when unknown."""
    return next((v for k, v in PEAK_TFLOPS.items() if kind.startswith(k)), 0.0)


def device_peak_tbps(kind: str) -> float:
    """Peak memory bandwidth in TB/s of a jax device_kind (PEAK_TBPS by prefix); 0.0 when
    unknown."""
    return next((v for k, v in PEAK_TBPS.items() if kind.startswith(k)), 0.0)


def peak_flops(train_cfg) -> float:
    """Peak FLOP/s of all devices: train.peak_tflops, else known accelerators, else 0 (no MFU)."""
    per_device = train_cfg.peak_tflops or device_peak_tflops(jax.devices()[0].device_kind)
    return per_device * 1e12 * jax.device_count()


class Reporter:
    """The log file, the progress bar and the MFU estimate of one run (`Log` on process 0)."""

    def __init__(self, cfg, model_cfg, steps: int, start: int, progress: bool):
        from tqdm import tqdm

        self.log = Log(cfg.train.out_dir, start)
        self.log_every, self.steps = cfg.train.log_every, steps
        self.flops_per_token = flops_per_token(model_cfg, cfg.data.max_length)
        self.peak = peak_flops(cfg.train)
        self.bar = tqdm(total=steps, initial=start, desc="train", unit="step", file=sys.stderr,
                        disable=not progress or jax.process_index() != 0, dynamic_ncols=True)

    def step(self, step: int, loss: float, grad_norm: float, lr: float, tokens: int,
             seconds: float):
        """Log one finished step; every log_every steps (and the last) show it on the bar."""
        record = {"step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm,
                  "tokens": tokens, "tokens_per_s": tokens / seconds, "seconds": seconds}
        if self.peak:
            record["mfu"] = tokens * self.flops_per_token / seconds / self.peak
        self.log.write(record)
        self.bar.update(1)
        if step % self.log_every == 0 or step == self.steps:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", gnorm=f"{grad_norm:.2f}",
                                 tok_s=f"{tokens / seconds:,.0f}",
                                 **({"mfu": f"{record['mfu']:.1%}"} if self.peak else {}))

    def validation(self, step: int, val_loss: float):
        self.log.write({"step": step, "val_loss": val_loss})
        self.bar.write(f"step {step}: validation loss {val_loss:.4f}")

    def close(self):
        self.bar.close()
        self.log.close()


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
        self.path.write_text(jsonl_text(kept))
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
                f.write(jsonl_text([record]))

    def flush(self):
        if self.main and self.uri:
            self.path.write_text(jsonl_text(self.records))

    def close(self):
        self.flush()


def read_log(path) -> list[dict]:
    """The records of a train_log.jsonl, in order."""
    return read_jsonl(path, ("step",))


def plot_loss(log_path: str, out_path: str):
    """The training (and validation) loss against the step, log scale, as a PNG."""
    plt = pyplot()

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
    save_png(fig, out_path)
