"""Peak host memory of `python -m tailjax.convert`, against the size of the weights it converts.

    python benchmarks/convert_memory.py [--layers 16] [--hidden 2048]

Writes a random Qwen2 (bfloat16, 1.56 GiB of weights by default) as a Hugging Face safetensors
directory, then runs `convert --from-hf` and `convert --to-hf` each in its own process and samples
their anonymous memory from /proc. The figure reported is (peak - an idle interpreter that has
imported JAX and tailjax) / bytes of the weights: 1.0 means one copy of the weights, the model
issue's target for a 7B conversion ("about one copy").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time



def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    p.add_argument("--write-hf", metavar="DIR", help=argparse.SUPPRESS)  # the child that writes
    return p.parse_args(argv)


def peak_memory(argv: list[str]) -> tuple[int, int]:
    """(peak anonymous memory, peak resident memory) of a child running argv, in bytes.

    Anonymous memory (RssAnon, sampled every 20 ms) is what the process needs; resident memory
    also counts the memory-mapped safetensors pages it has read, which the kernel can drop.
    """
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    anon = rss = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            anon = max(anon, int(fields["RssAnon"].split()[0]) * 1024)
            rss = max(rss, int(fields["VmRSS"].split()[0]) * 1024)
        except (FileNotFoundError, KeyError, ProcessLookupError):
            pass
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr.read()[-2000:]}")
    return anon, rss


def write_random_hf(directory: str, layers: int, hidden: int) -> int:
    """A random bf16 Qwen2 (untied, with biases) in HF layout; returns the weights' bytes."""
    import ml_dtypes
    import numpy as np

    from tailjax.model.convert import save_hf_params
    from tailjax.model.qwen2 import flat_items, param_specs
    from tailjax.model.qwen2_config import Qwen2Config

    cfg = Qwen2Config(vocab_size=32000, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                      num_hidden_layers=layers, num_attention_heads=hidden // 128,
                      num_key_value_heads=2, tie_word_embeddings=False,
                      param_dtype="bfloat16", dtype="bfloat16")
    rng = np.random.default_rng(0)
    flat = {name: (0.02 * rng.standard_normal(shape, np.float32)).astype(ml_dtypes.bfloat16)
            for name, (shape, _) in flat_items(param_specs(cfg))}
    nbytes = sum(a.nbytes for a in flat.values())
    save_hf_params(cfg, flat.__getitem__, directory)
    cfg.save(os.path.join(directory, "config.json"))
    return nbytes


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.write_hf:
        print(write_random_hf(args.write_hf, args.layers, args.hidden))
        return 0
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        hf, ckpt, back = (os.path.join(work, n) for n in ("hf", "ckpt", "back"))
        weights = int(subprocess.run(
            [sys.executable, __file__, "--write-hf", hf, "--layers", str(args.layers),
             "--hidden", str(args.hidden)], check=True, capture_output=True, text=True).stdout)
        idle, _ = peak_memory([sys.executable, "-c", "import jax, tailjax.convert; "
                               "jax.numpy.zeros(1).block_until_ready()"])
        runs = {"--from-hf": [sys.executable, "-m", "tailjax.convert", "--from-hf", hf,
                              "--out", ckpt],
                "--to-hf": [sys.executable, "-m", "tailjax.convert", "--to-hf", ckpt,
                            "--out", back]}
        print(f"weights {weights / 2**30:.2f} GiB (bfloat16); idle interpreter "
              f"{idle / 2**30:.2f} GiB")
        for name, argv_ in runs.items():
            anon, rss = peak_memory(argv_)
            print(f"  convert {name:9s} peak anonymous {anon / 2**30:5.2f} GiB -> "
                  f"{(anon - idle) / weights:.2f} x the weights (resident, with mapped "
                  f"files: {rss / 2**30:.2f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
