"""The CPU fast path of `kernels.dense` (see model/speed.py): a 2-D matmul with a custom VJP.

`dense` flattens x to [rows, K] and the weight to [K, N] (or [N, K]) and runs one matmul with
float32 accumulation. Its backward computes dW directly in the weight's layout, contracting the
flattened batch and sequence rows: plain autodiff of the einsum made XLA:CPU copy the output
gradient into a transposed layout first (with the activation's backward fused into that
strided copy), which cost ~6x the matmul. The weight is cast to x's dtype inside, so dW comes
back in the master weight's dtype (float32). tests/test_kernels.py holds both gradients to
autodiff's.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _matmul(x, w, w_out_first: bool, out_dtype, precision):
    """x [M, K] @ w ([K, N], or [N, K] when w_out_first) -> [M, N] in out_dtype, f32 accumulate."""
    return _matmul_fwd(x, w, w_out_first, out_dtype, precision)[0]


def _matmul_fwd(x, w, w_out_first, out_dtype, precision):
    y = lax.dot_general(x, w.astype(x.dtype), (((1,), (1 if w_out_first else 0,)), ((), ())),
                        precision=precision, preferred_element_type=jnp.float32)
    return y.astype(out_dtype), (x, w)


def _matmul_bwd(w_out_first, out_dtype, precision, residuals, g):
    x, w = residuals
    g = g.astype(x.dtype)
    wc = w.astype(x.dtype)
    dot = partial(lax.dot_general, precision=precision, preferred_element_type=jnp.float32)
    # dx [M, K] = g [M, N] . w over N
    dx = dot(g, wc, (((1,), (0 if w_out_first else 1,)), ((), ()))).astype(x.dtype)
    # dW in the weight's own layout, contracting the flattened batch x sequence rows.
    if w_out_first:
        dw = dot(g, x, (((0,), (0,)), ((), ())))
    else:
        dw = dot(x, g, (((0,), (0,)), ((), ())))
    return dx, dw.astype(w.dtype)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def dense(x: jax.Array, w: jax.Array, spec: str, out_dtype, precision) -> jax.Array:
    """einsum(spec, x, w) in out_dtype, as one 2-D matmul (see the module docstring).

    x's contracted axes must be its trailing ones and w's contracted axes its leading (e.g.
    "btd,dnh->btnh") or trailing ones (the tied head "btd,vd->btv").
    """
    ins, out = spec.replace(" ", "").split("->")
    xs, ws = ins.split(",")
    contract = "".join(c for c in xs if c in ws)
    lead = xs[: len(xs) - len(contract)]
    free = "".join(c for c in ws if c not in xs)
    if xs != lead + contract or out != lead + free or ws not in (contract + free, free + contract):
        raise ValueError(f"dense spec {spec!r}: x must end with the contracted axes and the "
                         "output must be x's other axes then w's free axes")
    w_out_first = bool(free) and ws == free + contract
    m_shape = x.shape[: len(lead)]
    k = math.prod(x.shape[len(lead):])
    f_shape = w.shape[: len(free)] if w_out_first else w.shape[len(contract):]
    n = math.prod(f_shape)
    x2 = x.reshape(-1, k)
    w2 = w.reshape(n, k) if w_out_first else w.reshape(k, n)
    y = _matmul(x2, w2, w_out_first, jnp.dtype(out_dtype), precision)
    return y.reshape(*m_shape, *f_shape)
