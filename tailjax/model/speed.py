"""The one switch for the model's CPU speed paths, and the list of what it turns on.

The model reads as plain JAX: `dense` is an einsum, the layers run under `lax.scan` over the
stacked weights, a decode step attends with two einsums over the KV cache. XLA:CPU, where
the tiny demo trains and evaluates, runs some of that far slower than it could, so the paths
below replace it there. Each computes the same function (tests/test_speed.py runs training
steps and a greedy decode both ways; tests/test_kernels.py holds dense's custom gradient to
autodiff), and each was kept because it measured faster on the CPU:

- dense with a custom VJP (model/fast_dense.py): one 2-D matmul whose backward computes dW in
  the weight's own layout. Autodiff made XLA:CPU copy the output gradient into a transposed
  layout first, which cost ~6x the matmul.
- unrolled layers (model/qwen2.py `_run_layers`, when `Qwen2Config.scan_layers` is None): a
  Python loop over the layers instead of `lax.scan`. The design credits it, the dense VJP and
  huge-page malloc together with CPU training at 1.17x transformers + torch (f32, 32 x 512;
  README); there is no figure for the unrolling alone.
- huge-page malloc for CPU training (tailjax/malloc.py, asked for by `train.main`): a 5.5 s
  step of the 32 x 512 benchmark took 4.1-4.3 s.
- per-layer weights and cache in the decode loop (`Qwen2.layer_list`, decode.py's per-layer
  cache), for models of up to decode.UNROLL_LAYERS layers: XLA:CPU copied each layer's weights
  out of the stacked arrays on every step. Deeper models scan over the stacked arrays, as
  accelerators do, so that the decode program's size does not grow with the layers.
- joined q/k/v and gate/up projections in the unrolled decode loop
  (`Qwen2.layer_list(fuse=True)`):
  two matmuls where there were five, at sizes where a CPU matmul is mostly dispatch;
  122k -> 132k tokens/s on the decode micro benchmark. Only with weights whole on each
  device (a joined copy of a split weight would have to be resharded).

The KV cache has one layout whatever the switch says (keys [layers, batch, kv_heads, head_dim,
slots], see model/cache_attention.py), so a cache is the same array on both paths and plan.py
sizes one kind; both paths read it in place.

`fast_paths()` is read while a function is traced, so a compiled function keeps the value it
was traced with: decode.py passes it to its compiled call as a static argument; a training
step is traced once per run.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator

import jax

ENV = "TAILJAX_FAST_PATHS"  # "1": always on, "0": always off, unset: on for the CPU backend
_forced: contextvars.ContextVar[bool | None] = contextvars.ContextVar("fast_paths", default=None)


def fast_paths(backend: str | None = None) -> bool:
    """Whether the CPU speed paths are on: as `use_fast_paths` says inside its block, else as
    $TAILJAX_FAST_PATHS says ("0" or "1"), else whether `backend` (default: JAX's default
    backend) is "cpu"."""
    forced = _forced.get()
    if forced is not None:
        return forced
    env = os.environ.get(ENV, "")
    if env not in ("", "0", "1"):
        raise ValueError(f"{ENV}={env!r}: set it to 0 (plain paths), 1 (fast paths) or unset "
                         "it (fast paths on the CPU only)")
    if env:
        return env == "1"
    return (backend or jax.default_backend()) == "cpu"


@contextlib.contextmanager
def use_fast_paths(on: bool) -> Iterator[None]:
    """Within the block, `fast_paths()` is `on` whatever the backend and environment say."""
    token = _forced.set(bool(on))
    try:
        yield
    finally:
        _forced.reset(token)
