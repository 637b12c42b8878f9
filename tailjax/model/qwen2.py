# Over 400 lines on purpose: the whole model (parameter table, layers, masks, forward) reads
# in one file, as jax-llm-examples' qwen3/ does.
"""Qwen2 / Qwen2.5 decoder in Flax NNX, numerically matching transformers' Qwen2ForCausalLM.

Parameters (one table, `param_specs`, gives every shape and logical axis; checkpoints, the HF
converter and the sharding rules all use it). Per-layer weights are stacked on a leading
"layers" axis:

    embed       [vocab, d]              final_norm [d]        lm_head [d, vocab] (untied only)
    layers/q    [L, d, heads, hd]       q_bias  [L, heads, hd]
    layers/k,v  [L, d, kv, hd]          k_bias, v_bias [L, kv, hd]
    layers/o    [L, heads, hd, d]
    layers/gate, up [L, d, f]           layers/down [L, f, d]
    layers/attn_norm, mlp_norm [L, d]

Call contract:
    model(input_ids, positions=None, segment_ids=None) -> logits [b, t, vocab] float32
    model(input_ids, positions, cache=cache, cache_index=i, kv_mask=m) -> (logits, new_cache)
    model(..., hidden_only=True) returns the final normed hidden states [b, t, d] (compute dtype)
    in place of the logits; `model.output_head()` is the matrix that turns them into logits
    (what the chunked loss, model/loss.py, takes).
    Either form takes prompt_mask [b, t] bool (True at the prompt's tokens but its last, which
    predicts the first completion token): hybrid's local heads see `prompt_window` tokens there.

Position encoding (`Qwen2Config.position_encoding`): "rope" is Qwen2's; "nope" and "hybrid"
(local rotary heads within a window, global heads without positions) are opt-in for models
trained from scratch, applied alike in the training forward and with a cache.

segment_ids [b, t]: tokens attend only (causally) within their own segment; 0 marks padding.
The training forward's attention goes through model/attention.py, by the backend that
`Qwen2Config.attention` names (auto: one per platform and row length).
With a cache (from `init_cache`, or that cache split per layer by `cache_attention.unstack`, the
form the CPU fast path's decode loop carries), the t new tokens' keys/values are written to slots
[cache_index, cache_index + t) and query i attends to slots j <= cache_index + i where
kv_mask[b, j] is True (left-padding slots are False).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

from tailjax.model import attention
from tailjax.model.cache_attention import (KEY_CACHE_AXES, VALUE_CACHE_AXES, cache_attention,
                                           cache_shapes, write_cache)
from tailjax.model.kernels import dense
from tailjax.model.loss import HEAD_SPECS
from tailjax.model.qwen2_config import PRESETS, Qwen2Config, preset  # noqa: F401 (re-exported)
from tailjax.model.sharding import constrain, is_shape_axes, tree_shardings
from tailjax.model.speed import fast_paths

LAYER_PARAMS = ("attn_norm", "q", "q_bias", "k", "k_bias", "v", "v_bias", "o",
                "mlp_norm", "gate", "up", "down")
# Logical axes of the KV cache arrays {"k": [layers, batch, kv_heads, head_dim, max_len],
# "v": [layers, batch, kv_heads, max_len, head_dim]} (the layouts cache_attention reads in place).
CACHE_AXES = {"k": KEY_CACHE_AXES, "v": VALUE_CACHE_AXES}
INIT_STD = 0.02  # transformers' initializer_range for Qwen2


def param_specs(cfg: Qwen2Config) -> dict:
    """{name: (shape, logical_axes)}, nested as the parameter tree; the one layout table."""
    d, f, v, L = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.num_hidden_layers
    h, kv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    layers = {
        "attn_norm": ((L, d), ("layers", "norm")),
        "q": ((L, d, h, hd), ("layers", "embed", "heads", "head_dim")),
        "q_bias": ((L, h, hd), ("layers", "heads", "head_dim")),
        "k": ((L, d, kv, hd), ("layers", "embed", "kv_heads", "head_dim")),
        "k_bias": ((L, kv, hd), ("layers", "kv_heads", "head_dim")),
        "v": ((L, d, kv, hd), ("layers", "embed", "kv_heads", "head_dim")),
        "v_bias": ((L, kv, hd), ("layers", "kv_heads", "head_dim")),
        "o": ((L, h, hd, d), ("layers", "heads", "head_dim", "embed")),
        "mlp_norm": ((L, d), ("layers", "norm")),
        "gate": ((L, d, f), ("layers", "embed", "mlp")),
        "up": ((L, d, f), ("layers", "embed", "mlp")),
        "down": ((L, f, d), ("layers", "mlp", "embed")),
    }
    specs = {"embed": ((v, d), ("vocab", "embed")), "layers": layers,
             "final_norm": ((d,), ("norm",))}
    if not cfg.tie_word_embeddings:
        specs["lm_head"] = ((d, v), ("embed", "vocab"))
    return specs


def count_params(cfg: Qwen2Config) -> int:
    leaves = jax.tree.leaves(param_specs(cfg), is_leaf=is_shape_axes)
    return sum(math.prod(shape) for shape, _ in leaves)


def init_params(cfg: Qwen2Config, key: jax.Array) -> dict:
    """Fresh parameters as a nested dict of arrays: weights ~ N(0, 0.02), biases 0, norms 1."""
    leaves, treedef = jax.tree.flatten_with_path(param_specs(cfg), is_leaf=is_shape_axes)
    keys = jax.random.split(key, len(leaves))
    values = []
    for (path, (shape, _)), k in zip(leaves, keys):
        name = path[-1].key
        if name.endswith("norm"):
            values.append(jnp.ones(shape, cfg.weight_dtype))
        elif name.endswith("bias"):
            values.append(jnp.zeros(shape, cfg.weight_dtype))
        else:
            w = INIT_STD * jax.random.normal(k, shape, jnp.float32)
            values.append(w.astype(cfg.weight_dtype))
    return jax.tree.unflatten(treedef, values)


# One compiled initializer per config: op-by-op eager init costs a compile per parameter shape.
_init_params_jit = jax.jit(init_params, static_argnums=0)


def _init_key(cfg: Qwen2Config) -> Qwen2Config:
    """The config with the fields that do not change initialization reset (fewer recompiles)."""
    return cfg.replace(dtype="float32", scan_layers=None, remat="none", attention="auto",
                       packed_rows=True)


def _param(value, spec) -> nnx.Param:
    return nnx.Param(value, logical_axes=spec[1])


class DecoderLayers(nnx.Module):
    """All decoder layers' weights, stacked on a leading "layers" axis."""

    def __init__(self, cfg: Qwen2Config, values: dict):
        for name, spec in param_specs(cfg)["layers"].items():
            setattr(self, name, _param(values[name], spec))

    def arrays(self) -> dict[str, jax.Array]:
        return {name: getattr(self, name)[...] for name in LAYER_PARAMS}


class Qwen2(nnx.Module):
    """The decoder; see the module docstring for the call contract. `create(cfg, seed, mesh)`
    builds one straight onto a mesh, `load(path)` reads one from disk."""

    def __init__(self, config: Qwen2Config, *, rngs: nnx.Rngs):
        self.config = config
        specs = param_specs(config)
        values = _init_params_jit(_init_key(config), rngs.params())
        self.embed = _param(values["embed"], specs["embed"])
        self.layers = DecoderLayers(config, values["layers"])
        self.final_norm = _param(values["final_norm"], specs["final_norm"])
        if not config.tie_word_embeddings:
            self.lm_head = _param(values["lm_head"], specs["lm_head"])

    def init_cache(self, batch: int, max_len: int, dtype=None, sharding=None) -> dict:
        """Zeroed KV cache {"k": [layers, batch, kv_heads, head_dim, max_len],
        "v": [layers, batch, kv_heads, max_len, head_dim]} (see CACHE_AXES).

        `sharding`: an optional jax.sharding.Sharding to create both arrays on (only batch and
        kv heads are ever split, so one sharding fits both layouts).
        """
        cfg = self.config
        shapes = cache_shapes(cfg.num_hidden_layers, batch, max_len, cfg.num_key_value_heads,
                              cfg.head_dim)
        dtype = jnp.dtype(dtype or cfg.compute_dtype)
        return {name: jnp.zeros(shape, dtype, device=sharding) for name, shape in shapes.items()}

    def layer_list(self, fuse: bool = False) -> tuple[dict, ...]:
        """Each layer's weights as its own arrays, for the CPU fast path (model/speed.py): the
        decode loop slices them once, outside the loop, and passes them as `layers=`; XLA:CPU
        otherwise copies every layer's weights out of the stacked arrays on every step.

        fuse: also join each layer's q, k, v projections into one "qkv" [d, heads + 2 kv heads,
        head_dim] (biases into "qkv_bias") and gate, up into "gate_up" [d, 2 f], so a
        step runs two matmuls where it ran five: at decoding sizes a matmul costs mostly a fixed
        overhead on XLA:CPU. Only for weights whose output axes are not split over devices (the
        joined axis would have to be resharded).
        """
        stacked = self.layers.arrays()
        layers = tuple({name: w[i] for name, w in stacked.items()}
                       for i in range(self.config.num_hidden_layers))
        return tuple(map(_fused, layers)) if fuse else layers

    def __call__(self, input_ids, positions=None, segment_ids=None, *, cache=None,
                 cache_index=None, kv_mask=None, layers=None, prompt_mask=None,
                 hidden_only=False, block=None):
        cfg = self.config
        dtype = cfg.compute_dtype
        b, t = input_ids.shape
        if positions is None:
            if cache is not None:
                raise ValueError("cached decoding needs explicit positions")
            positions = jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))
        embed = self.embed[...]
        x = jnp.take(embed, input_ids, axis=0).astype(dtype)
        x = constrain(x, ("batch", "seq", "act_embed"))
        cos, sin = rope_tables(positions, cfg.head_dim, cfg.rope_theta, dtype)
        if cache is None:
            masks = attention.prepare(cfg, b, t, segment_ids, prompt_mask)
        else:
            if cache_index is None:
                raise ValueError("cached decoding needs cache_index")
            if segment_ids is not None:
                raise ValueError("segment_ids apply to the training forward; with a cache, "
                                 "mask slots with kv_mask")
            masks = _cache_masks(b, t, cache_index, kv_mask, cfg, prompt_mask)
        x, new_cache = _run_layers(x, self.layers.arrays() if layers is None else layers, cos,
                                   sin, masks, cfg, cache, cache_index, block)
        x = rms_norm(x, self.final_norm[...], cfg.rms_norm_eps)
        if hidden_only:
            return x if cache is None else (x, new_cache)
        head, layout = self.output_head()
        logits = dense(x, head, HEAD_SPECS[layout], out_dtype=jnp.float32)
        logits = constrain(logits, ("batch", "seq", "act_vocab"))
        return logits if cache is None else (logits, new_cache)

    def output_head(self) -> tuple[jax.Array, str]:
        """(output embedding, layout): lm_head [d, vocab] and "dv", or with tied embeddings the
        input embedding [vocab, d] and "vd" (model/loss.py HEAD_SPECS gives each its einsum)."""
        if self.config.tie_word_embeddings:
            return self.embed[...], "vd"
        return self.lm_head[...], "dv"


# ---- models from parameter trees ---------------------------------------------------------------

def abstract_model(cfg: Qwen2Config) -> Qwen2:
    """The model with jax.ShapeDtypeStruct leaves: shapes and dtypes, nothing allocated."""
    return nnx.eval_shape(lambda: Qwen2(cfg, rngs=nnx.Rngs(0)))


def from_params(cfg: Qwen2Config, params: dict) -> Qwen2:
    """A model whose parameters are `params` (a nested dict laid out as `param_specs`).

    The arrays are used as they are (their dtype and sharding are kept); shapes are checked.
    """
    expected = param_specs(cfg)
    flat_expected = dict(flat_items(expected))
    flat_given = flat_arrays(params)
    for name in flat_expected.keys() - flat_given.keys():
        raise ValueError(f"parameter {name} is missing (expected shape {flat_expected[name][0]})")
    for name in flat_given.keys() - flat_expected.keys():
        raise ValueError(f"unexpected parameter {name} (not in the Qwen2 layout)")
    for name, (shape, _) in flat_expected.items():
        if tuple(flat_given[name].shape) != shape:
            raise ValueError(f"parameter {name} has shape {tuple(flat_given[name].shape)}, "
                             f"expected {shape}")
    params = jax.tree.map(lambda x: x if isinstance(x, jax.Array) else jnp.asarray(x), params)
    graphdef, state = nnx.split(abstract_model(cfg))
    nnx.replace_by_pure_dict(state, params)
    return nnx.merge(graphdef, state)


def create(cfg: Qwen2Config, seed: int = 0, mesh=None) -> Qwen2:
    """A freshly initialized model; with a mesh, each parameter is created on its own shards
    (no device ever holds a whole unsharded weight). Same seed, same values on 1 device or N."""
    key = nnx.Rngs(seed).params()
    if mesh is None:
        return from_params(cfg, _init_params_jit(_init_key(cfg), key))
    init = jax.jit(init_params, static_argnums=0, out_shardings=param_shardings(cfg, mesh))
    return from_params(cfg, init(cfg, key))


def param_shardings(cfg: Qwen2Config, mesh) -> dict:
    """NamedShardings of the parameters on `mesh`, nested as `param_specs` (the checkpoint
    layout): each placed by its logical axes (sharding.RULES)."""
    return tree_shardings(param_specs(cfg), mesh)


def params_of(model: Qwen2) -> dict:
    """The model's parameters as a nested dict of arrays (the checkpoint layout)."""
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def flat_items(tree, is_leaf=is_shape_axes):
    """("layers/q", leaf) pairs of a parameter-shaped tree (leaves: spec pairs by default)."""
    for path, leaf in jax.tree.flatten_with_path(tree, is_leaf=is_leaf)[0]:
        yield "/".join(str(k.key) for k in path), leaf


def flat_arrays(tree) -> dict:
    """{"layers/q": array, ...} of a parameter-shaped tree of arrays (or array metadata)."""
    return dict(flat_items(tree, is_leaf=lambda x: hasattr(x, "shape")))


def nest(flat: dict) -> dict:
    """{"layers/q": x, ...} -> {"layers": {"q": x}, ...}: the inverse of flat_items."""
    out: dict = {}
    for name, value in flat.items():
        *parents, last = name.split("/")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


# ---- building blocks ----------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    """transformers' Qwen2RMSNorm: normalize in f32, cast back to x's dtype, then scale."""
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    return weight.astype(x.dtype) * y.astype(x.dtype)


def rope_tables(positions, head_dim, theta, dtype):
    """cos, sin [b, t, head_dim] of the half-split RoPE, computed in f32 then cast to dtype."""
    inv_freq = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
    freqs = positions.astype(jnp.float32)[..., None] * inv_freq
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb).astype(dtype), jnp.sin(emb).astype(dtype)


def apply_rope(x, cos, sin):
    """x [b, t, heads, hd]; rotate_half splits the head dimension into halves (not interleaved)."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, :, None, :] + rotated * sin[:, :, None, :]


def encode_positions(q, k, cos, sin, cfg):
    """q [b, t, heads, hd], k [b, t, kv_heads, hd] with rotary positions on the heads that use
    them (cfg.local_kv_heads), and the global heads' queries times cfg.attn_logit_scale."""
    if cfg.position_encoding == "rope" and cfg.attn_logit_scale == 1.0:
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # Qwen2, bit for bit
    group = cfg.num_attention_heads // cfg.num_key_value_heads
    rotary_kv = jnp.asarray(cfg.local_kv_heads)
    rotary_q = jnp.repeat(rotary_kv, group)
    if cfg.position_encoding != "nope":
        q = jnp.where(rotary_q[:, None], apply_rope(q, cos, sin), q)
        k = jnp.where(rotary_kv[:, None], apply_rope(k, cos, sin), k)
    if cfg.attn_logit_scale != 1.0:
        is_global = rotary_q if cfg.position_encoding == "rope" else ~rotary_q
        q = q * jnp.where(is_global, cfg.attn_logit_scale, 1.0)[:, None].astype(q.dtype)
    return q, k


def _cache_masks(b, t, cache_index, kv_mask, cfg, prompt_mask=None):
    """masks(start, size) -> (full, sliding): the t new queries' [b, (kv,) t, size] masks over
    cache slots [start, start + size) (sliding None when no layer slides), built per block so
    that a blockwise read never builds one over the whole cache."""
    q_slots = cache_index + jnp.arange(t)

    def masks(start, size):
        slots = start + jnp.arange(size)
        full = jnp.broadcast_to(slots[None, :] <= q_slots[:, None], (b, t, size))
        if kv_mask is not None:
            full = full & jax.lax.dynamic_slice_in_dim(kv_mask, start, size, axis=1)[:, None, :]
        return (attention.per_head(full, q_slots, slots, cfg, prompt_mask),
                attention.per_head(attention.windowed(full, q_slots, slots, cfg), q_slots, slots,
                                   cfg, prompt_mask))
    return masks


def _decoder_layer(x, p, cos, sin, mask, cfg, kv_all=None, layer=None, cache_index=None,
                   block=None):
    """One pre-norm decoder layer. Without a cache, `mask` is the forward's
    attention.AttentionInputs and the layer attends through `attention.attend`. With a cache,
    `mask` gives this layer's [b, (kv,) t, size] mask of slots [start, start + size) (see
    `_cache_masks`); the layer writes its new keys/values into kv_all = (k, v) (layouts in
    CACHE_AXES) at (layer, cache_index) and attends over the slots written so far, in blocks of
    `block` slots when given (cache_attention)."""
    h = rms_norm(x, p["attn_norm"], cfg.rms_norm_eps)
    q, k, v = _projections(h, p, cfg)
    q, k = encode_positions(q, k, cos, sin, cfg)
    q = constrain(q, ("batch", "seq", "act_heads", "head_dim"))
    k = constrain(k, ("batch", "seq", "act_kv_heads", "head_dim"))
    v = constrain(v, ("batch", "seq", "act_kv_heads", "head_dim"))
    if kv_all is not None:
        kv_all = write_cache(*kv_all, k, v, layer, cache_index)
        attn = cache_attention(q, *kv_all, layer, mask, cache_index + q.shape[1], block)
    else:
        attn = attention.attend(q, k, v, mask, cfg, attention.layer_slides(cfg, layer))
    x = x + dense(attn, p["o"], "btnh,nhd->btd")
    x = checkpoint_name(x, "out_proj")  # x + o(attn): with the layer's input, o(attn) itself
    h = rms_norm(x, p["mlp_norm"], cfg.rms_norm_eps)
    if "gate_up" in p:  # joined by the CPU fast path (`Qwen2.layer_list(fuse=True)`)
        gate, up = jnp.split(dense(h, p["gate_up"], "btd,df->btf"), 2, axis=-1)
    else:
        gate = dense(h, p["gate"], "btd,df->btf")
        up = dense(h, p["up"], "btd,df->btf")
    hidden = constrain(jax.nn.silu(gate) * up, ("batch", "seq", "act_mlp"))
    x = x + dense(hidden, p["down"], "btf,fd->btd")
    return constrain(x, ("batch", "seq", "act_embed")), kv_all


def _projections(h, p, cfg):
    """The layer's queries [b, t, heads, hd], keys and values [b, t, kv_heads, hd], biases
    added (named for the remat policies: query_proj, key_proj, value_proj, or qkv_proj)."""
    dtype = h.dtype
    if "qkv" in p:  # joined by the CPU fast path (`Qwen2.layer_list(fuse=True)`)
        qkv = dense(h, p["qkv"], "btd,dnh->btnh") + p["qkv_bias"].astype(dtype)
        qkv = checkpoint_name(qkv, "qkv_proj")
        heads, kv = cfg.num_attention_heads, cfg.num_key_value_heads
        return tuple(jnp.split(qkv, [heads, heads + kv], axis=2))
    q = dense(h, p["q"], "btd,dnh->btnh") + p["q_bias"].astype(dtype)
    k = dense(h, p["k"], "btd,dkh->btkh") + p["k_bias"].astype(dtype)
    v = dense(h, p["v"], "btd,dkh->btkh") + p["v_bias"].astype(dtype)
    return (checkpoint_name(q, "query_proj"), checkpoint_name(k, "key_proj"),
            checkpoint_name(v, "value_proj"))


def _fused(p: dict) -> dict:
    """One layer's weights with q/k/v and gate/up joined (see `Qwen2.layer_list`)."""
    joined = ("q", "k", "v")
    return {
        "qkv": jnp.concatenate([p[n] for n in joined], axis=1),  # the heads axis
        "qkv_bias": jnp.concatenate([p[n + "_bias"] for n in joined]),
        "gate_up": jnp.concatenate([p["gate"], p["up"]], axis=-1),
        **{n: w for n, w in p.items()
           if n not in joined + ("q_bias", "k_bias", "v_bias", "gate", "up")},
    }


# What each Qwen2Config.remat mode (qwen2_config.REMAT_MODES) keeps of a layer for the backward
# pass; everything else is recomputed from the layer's input. "none" applies no jax.checkpoint
# (XLA keeps what autodiff needs). The save_* names and sets are MaxText's `remat_policy`
# (layers/decoders.py), over the activations named with checkpoint_name above:
#   query_proj, key_proj, value_proj (qkv_proj when joined)  [b, t, heads or kv, hd] each
#   out_proj   the residual stream after attention's output projection  [b, t, d]
# MaxText's save_dot_except_mlpwi also keeps the MLP's down projection; here nothing in the
# backward reads it (it is only added to the residual stream), so that policy would equal
# save_dot_except_mlp and is left out. Least memory (most recompute) first: full,
# save_out_proj, save_qkv_proj, save_dot_except_mlp, dots, none.
_QKV = ("query_proj", "key_proj", "value_proj", "qkv_proj")
_save = jax.checkpoint_policies.save_only_these_names
_REMAT_POLICIES = {
    "full": None,  # save nothing but the layer's inputs; recompute the layer in the backward
    "save_out_proj": _save("out_proj"),
    "save_qkv_proj": _save(*_QKV),
    "save_dot_except_mlp": _save(*_QKV, "out_proj"),
    # every weight matmul's output (no batch dims), attention's einsums recomputed: MaxText's
    # "minimal"
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def _run_layers(x, layer_params, cos, sin, masks, cfg, cache, cache_index, block=None):
    """All decoder layers, by lax.scan over the stacked weights or by an unrolled loop (the CPU
    fast path's default, model/speed.py; per-layer weights or cache are always unrolled).
    masks: attention.AttentionInputs without a cache; with one, `_cache_masks`'s function of
    (start, size) giving the (full, sliding) masks of those slots."""
    def layer_fn(x, p, kv_all, layer):
        if cache is None:
            return _decoder_layer(x, p, cos, sin, masks, cfg, None, layer, cache_index)
        slides = attention.layer_slides(cfg, layer)

        def mask(start, size):
            full, sliding = masks(start, size)
            return attention.pick(slides, sliding, full)
        return _decoder_layer(x, p, cos, sin, mask, cfg, kv_all, layer, cache_index, block)

    if cfg.remat != "none":
        layer_fn = jax.checkpoint(layer_fn, policy=_REMAT_POLICIES[cfg.remat])
    kv_all = None if cache is None else (cache["k"], cache["v"])
    scan = cfg.scan_layers if cfg.scan_layers is not None else not fast_paths()
    per_layer_cache = kv_all is not None and isinstance(kv_all[0], tuple)
    per_layer_weights = isinstance(layer_params, (tuple, list))
    if scan and not per_layer_cache and not per_layer_weights:
        def body(carry, xs):
            x, kv_all = carry
            p, layer = xs
            return layer_fn(x, p, kv_all, layer), None
        layers = jnp.arange(cfg.num_hidden_layers)
        (x, kv_all), _ = jax.lax.scan(body, (x, kv_all), (layer_params, layers))
    else:
        for layer in range(cfg.num_hidden_layers):
            p = (layer_params[layer] if per_layer_weights else
                 {name: w[layer] for name, w in layer_params.items()})
            x, kv_all = layer_fn(x, p, kv_all, layer)
    new_cache = None if kv_all is None else {"k": kv_all[0], "v": kv_all[1]}
    return x, new_cache
