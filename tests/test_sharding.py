"""The mesh and the logical-axis rules, on the 8 virtual CPU devices of tests/conftest.py."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from tailjax.model import CACHE_AXES, Qwen2Config, create, load, save, save_hf
from tailjax.host import make_global_batch
from tailjax.model.qwen2 import flat_items, param_shardings, param_specs, params_of
from tailjax.model.sharding import batch_sharding, logical_to_sharding, logical_to_spec, make_mesh
from tailjax.step import opt_shardings

# every sharded dimension divisible: heads 8 and kv 4 and mlp 128 and vocab 128 over tensor=4,
# embed 64 over fsdp=2
CFG = Qwen2Config(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=8, num_key_value_heads=4, rope_theta=1e4)


@pytest.fixture(scope="module")
def mesh():
    assert len(jax.devices()) == 8, "tests/conftest.py sets 8 virtual CPU devices"
    return make_mesh({"fsdp": 2, "tensor": 4})


def test_make_mesh_shapes_and_errors():
    assert dict(make_mesh({"fsdp": 2, "tensor": 4}).shape) == {"data": 1, "fsdp": 2, "tensor": 4}
    assert dict(make_mesh({"data": 2, "fsdp": -1}).shape) == {"data": 2, "fsdp": 4, "tensor": 1}
    assert dict(make_mesh().shape) == {"data": 1, "fsdp": 8, "tensor": 1}
    with pytest.raises(ValueError, match="needs 6 devices but 8 are available"):
        make_mesh({"fsdp": 2, "tensor": 3})
    with pytest.raises(ValueError, match="unknown mesh axes"):
        make_mesh({"model": 8})


def test_rules_skip_axes_that_do_not_divide_and_never_reuse_an_axis(mesh):
    # the tiny preset's 2 kv heads cannot split over tensor=4: replicated, never uneven
    assert logical_to_spec(("embed", "kv_heads", "head_dim"), (256, 2, 32), mesh) == \
        P("fsdp", None, None)
    assert logical_to_spec(("embed", "kv_heads", "head_dim"), (256, 4, 32), mesh) == \
        P("fsdp", "tensor", None)
    assert logical_to_spec(("batch", "seq", "act_embed"), (6, 10, 64), mesh) == \
        P("fsdp", None, None)
    assert logical_to_spec(("batch", "seq"), (3, 10), mesh) == P(None, None)
    assert logical_to_spec(("heads", "mlp"), (8, 8), mesh) == P("tensor", None)  # used once
    with pytest.raises(ValueError, match="logical axis 'nope' has no sharding rule"):
        logical_to_spec(("nope",), (4,), mesh)


def test_sharded_load_and_forward_equal_single_device(mesh, tmp_path):
    single = create(CFG, seed=0)
    save(single, str(tmp_path / "ckpt"))
    save_hf(single, str(tmp_path / "hf"))
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 128, (4, 48)))
    reference = np.asarray(jax.jit(lambda m, x: m(x))(single, ids))

    expected = {name: logical_to_sharding(axes, mesh, shape)
                for name, (shape, axes) in flat_items(param_specs(CFG))}
    assert expected["layers/q"].spec == P(None, "fsdp", "tensor", None)
    assert expected["layers/down"].spec == P(None, "tensor", "fsdp")
    assert expected["embed"].spec == P("tensor", "fsdp")
    is_array = lambda x: hasattr(x, "shape")  # noqa: E731
    single_params = dict(flat_items(params_of(single), is_leaf=is_array))
    for source in ("ckpt", "hf"):
        sharded = load(str(tmp_path / source), mesh=mesh)
        for name, array in flat_items(params_of(sharded), is_leaf=is_array):
            assert array.sharding.is_equivalent_to(expected[name], array.ndim), name
            np.testing.assert_array_equal(array, single_params[name])
        q = sharded.layers.q[...]
        assert q.addressable_shards[0].data.shape == (2, 32, 2, 8)  # 1/8 of [2, 64, 8, 8]

        with jax.set_mesh(mesh):
            batch = make_global_batch(np.asarray(ids), batch_sharding(mesh, 2))
            assert batch.sharding.is_equivalent_to(batch_sharding(mesh, 2), 2)
            logits = jax.jit(lambda m, x: m(x))(sharded, batch)
        np.testing.assert_allclose(np.asarray(logits), reference, atol=2e-5)


def test_create_on_a_mesh_matches_create_on_one_device(mesh):
    on_mesh, single = create(CFG, seed=5, mesh=mesh), create(CFG, seed=5)
    np.testing.assert_array_equal(on_mesh.layers.gate[...], single.layers.gate[...])
    assert on_mesh.layers.gate[...].sharding.spec == P(None, "fsdp", "tensor")
    shardings = param_shardings(CFG, mesh)
    assert shardings["layers"]["o"].spec == P(None, "tensor", None, "fsdp")


def test_sharded_cached_decoding_equals_single_device(mesh):
    single = create(CFG, seed=1)
    sharded = create(CFG, seed=1, mesh=mesh)
    ids = jnp.asarray(np.random.default_rng(1).integers(0, 128, (4, 9)))
    positions = jnp.broadcast_to(jnp.arange(9), (4, 9))
    step = jax.jit(lambda m, ids, pos, cache: m(ids, pos, cache=cache, cache_index=jnp.int32(0)))
    ref, _ = step(single, ids, positions, single.init_cache(4, 16))
    cache_sharding = logical_to_sharding(CACHE_AXES["v"], mesh, (2, 4, 4, 16, 8))
    assert cache_sharding.spec == P(None, "fsdp", "tensor", None, None)
    with jax.set_mesh(mesh):
        cache = sharded.init_cache(4, 16, sharding=cache_sharding)
        logits, new_cache = step(sharded, ids, positions, cache)
    np.testing.assert_allclose(np.asarray(logits), np.asarray(ref), atol=2e-5)
    assert new_cache["k"].sharding.is_equivalent_to(cache_sharding, 5)


def test_optimizer_state_follows_the_parameter_axes(mesh):
    # The shardings training gives the optimizer state (step.opt_shardings).
    model = create(CFG, seed=2, mesh=mesh)
    tx = optax.adamw(1e-3)
    shardings = opt_shardings(tx, params_of(model), param_shardings(CFG, mesh), mesh)
    specs = {jax.tree_util.keystr(path): s.spec for path, s in
             jax.tree.flatten_with_path(shardings)[0] if isinstance(s, NamedSharding)}
    mu_q = [spec for path, spec in specs.items() if "mu" in path and "'q'" in path]
    assert mu_q == [P(None, "fsdp", "tensor", None)]
    counts = [spec for path, spec in specs.items() if "count" in path]
    assert counts and all(spec == P() for spec in counts)  # scalars replicate
