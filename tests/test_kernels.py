"""model/kernels.py's dense on its CPU fast path (model/fast_dense.py: dW in the weight's layout)
must give the gradients plain autodiff of the same einsum gives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from tailjax.model.kernels import dense
from tailjax.model.speed import use_fast_paths

# (spec, x shape, w shape): the projections, the output projection, the untied and tied heads.
CASES = [
    ("btd,dnh->btnh", (2, 5, 8), (8, 3, 4)),
    ("btnh,nhd->btd", (2, 5, 3, 4), (3, 4, 8)),
    ("btd,df->btf", (2, 5, 8), (8, 12)),
    ("btd,vd->btv", (2, 5, 8), (11, 8)),
]


def _loss(matmul, spec, x, w, r):
    return jnp.sum(matmul(spec, x, w).astype(jnp.float32) * r)


def _with_dense(spec, x, w):
    with use_fast_paths(True):  # the custom VJP, on any backend
        return dense(x, w, spec)


def _with_einsum(spec, x, w):
    return jnp.einsum(spec, x, w.astype(x.dtype), precision=lax.Precision.HIGHEST,
                      preferred_element_type=jnp.float32).astype(x.dtype)


@pytest.mark.parametrize("spec, x_shape, w_shape", CASES)
def test_dense_gradient_equals_autodiff(spec, x_shape, w_shape):
    kx, kw, kr = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, x_shape, jnp.float32)
    w = jax.random.normal(kw, w_shape, jnp.float32)
    r = jax.random.normal(kr, jax.eval_shape(lambda: _with_einsum(spec, x, w)).shape)
    np.testing.assert_allclose(_with_dense(spec, x, w), _with_einsum(spec, x, w),
                               rtol=1e-6, atol=1e-6)
    got = jax.grad(lambda x, w: _loss(_with_dense, spec, x, w, r), argnums=(0, 1))(x, w)
    want = jax.grad(lambda x, w: _loss(_with_einsum, spec, x, w, r), argnums=(0, 1))(x, w)
    for g, e in zip(got, want):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_dense_gradient_of_a_float32_weight_under_bfloat16_compute():
    """Mixed precision: the weight is cast inside, so dW comes back float32 like the master weight,
    and equals autodiff's up to bf16 rounding."""
    spec, x_shape, w_shape = CASES[0]
    kx, kw, kr = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(kx, x_shape, jnp.bfloat16)
    w = jax.random.normal(kw, w_shape, jnp.float32)
    r = jax.random.normal(kr, x_shape[:2] + w_shape[1:])
    got = jax.grad(lambda x, w: _loss(_with_dense, spec, x, w, r), argnums=(0, 1))(x, w)
    want = jax.grad(lambda x, w: _loss(_with_einsum, spec, x, w, r), argnums=(0, 1))(x, w)
    assert got[0].dtype == jnp.bfloat16 and got[1].dtype == jnp.float32
    for g, e in zip(got, want):
        np.testing.assert_allclose(np.asarray(g, np.float32), np.asarray(e, np.float32),
                                   rtol=2e-2, atol=2e-2)
