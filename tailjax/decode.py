# Over 400 lines on purpose: bucketing, the weights' decode layout, prefill, the decode loop and
# its per-replica split build one compiled program and read best together.
"""Batched decoding with a KV cache, compiled once per shape bucket.

`generate(model, prompts, max_new_tokens, end_ids)` left-pads the prompts into a power-of-two
length bucket (and the batch into a power-of-two row bucket) so a handful of compiles serve a
whole evaluation, fills a preallocated KV cache with one prefill pass (chunked when the prompt
logits would be large), then decodes inside one `lax.while_loop` that stops each row at any end
id and the whole batch once every row is done or the budget is spent. Each step reads the cache
in blocks (`cache_layout`) only up to the slots written so far, merging the blocks' softmax
terms as flash-decoding does (model/cache_attention.py), so a step's memory read grows with the
length decoded, not with the budget; the layers run under `lax.scan`, so the program's size
grows with neither the layers nor the budget. The cache is donated to the compiled function and
handed back, so it is updated in place and reused by the next call of the same shape instead of
being reallocated.

The weights are kept in the compute dtype on a mesh with the fsdp axis folded into data where
they fit (`decode_mesh`). Rows are sharded over the data axes and the cache follows the model's
rules (batch over data, kv heads over tensor); `tailjax.plan.plan_decode` sizes weights and
cache per device beforehand (`python -m tailjax.eval --plan`). Along the pure data axis
(parameters replicated) each shard of rows decodes in its own loop, with no communication per
step; on a CPU split into one device per core that is ~1.7x the tokens/s. Without a mesh the
decoder uses a mesh of one device: one code path.

Greedy by default (argmax, first index on ties, as transformers does); temperature and top-p
sampling take an explicit PRNG key.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P

from tailjax.model import count_params, sharding, speed
from tailjax.model.cache_attention import SLOTS_FROM_END, cache_shapes, cache_slots
from tailjax.model.qwen2 import CACHE_AXES, abstract_model, param_shardings, params_of
from tailjax.sampling import pick

MIN_PROMPT_BUCKET = 16
# A decode step reads the cache in blocks, up to the slots written so far (cache_attention):
# a cache of up to MIN_BLOCK slots is read whole; a longer one splits into at most MAX_BLOCKS
# blocks, a power of two >= MIN_BLOCK each, so a step runs few block iterations (each costs a
# fixed overhead, several kernel launches on a GPU) and reads at most one block past the end.
MIN_BLOCK = 512
MAX_BLOCKS = 8
# On the CPU fast paths (model/speed.py), models this shallow decode with their layers unrolled
# over per-layer weights and cache (XLA:CPU copies a layer out of a stacked array on every
# step); deeper ones scan like accelerators do, so the program does not grow with the layers.
UNROLL_LAYERS = 8
# Prefill computes logits for every prompt position; chunk it so those logits stay under this.
PREFILL_LOGITS_BYTES = 1 << 30


@dataclass(frozen=True)
class Generation:
    """What `generate` returns, one row per prompt.

    tokens: [batch, max_new_tokens] int32; row b's output is tokens[b, :lengths[b]] (the end
        token included when one was reached), the rest is padding.
    lengths: [batch] int32, tokens generated per row.
    truncated: [batch] bool, True where the row spent the whole budget without an end token.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    truncated: np.ndarray

    def rows(self) -> list[list[int]]:
        return [self.tokens[b, : self.lengths[b]].tolist() for b in range(len(self.lengths))]


def bucket(n: int, minimum: int = 1) -> int:
    """The smallest power of two >= max(n, minimum)."""
    return 1 << (max(n, minimum) - 1).bit_length()


def left_pad(prompts: Sequence[Sequence[int]], length: int, rows: int, pad_id: int):
    """Prompts right-aligned in a [rows, length] array; rows past len(prompts) are filler.

    Filler rows get a one-token prompt so that every query has a key to attend to.
    Returns (ids, lengths) as int32 numpy arrays.
    """
    ids = np.full((rows, length), pad_id, np.int32)
    lengths = np.ones((rows,), np.int32)
    for b, p in enumerate(prompts):
        ids[b, length - len(p):] = p
        lengths[b] = len(p)
    return ids, lengths


def _prefill_chunk(rows: int, length: int, vocab: int) -> int:
    """The largest power-of-two chunk <= length whose logits fit PREFILL_LOGITS_BYTES."""
    chunk = length
    while chunk > 1 and rows * chunk * vocab * 4 > PREFILL_LOGITS_BYTES:
        chunk //= 2
    return chunk


def cache_layout(length: int, max_new_tokens: int) -> tuple[int, int | None]:
    """(slots, block) of the cache for a prompt bucket of `length` and a budget: slots =
    length + max_new_tokens; block None (read whole) up to MIN_BLOCK slots, beyond the smallest
    power of two >= MIN_BLOCK that splits the slots into at most MAX_BLOCKS blocks."""
    total = length + max_new_tokens
    if total <= MIN_BLOCK:
        return total, None
    return total, bucket(-(-total // MAX_BLOCKS), MIN_BLOCK)


def _window(cache, size: int):
    """The first `size` slots of every cache array (stacked, or a tuple per layer): a copy."""
    return {name: jax.tree.map(lambda c, end=SLOTS_FROM_END[name]: jax.lax.slice_in_dim(
        c, 0, size, axis=c.ndim + end), arrays) for name, arrays in cache.items()}


def _put_window(cache, window):
    """`cache` with `window` (from `_window`) written back over its first slots."""
    return {name: jax.tree.map(lambda c, w, end=SLOTS_FROM_END[name]:
                               jax.lax.dynamic_update_slice_in_dim(c, w, 0, axis=c.ndim + end),
                               arrays, window[name]) for name, arrays in cache.items()}


class DecodeState(NamedTuple):
    """What the decode loop carries from one step to the next (rows: the batch's rows)."""

    i: jax.Array        # int32 []: the step, the column of `out` it writes
    token: jax.Array    # int32 [rows]: the last token, fed in at the next step
    done: jax.Array     # bool [rows]: the row emitted an end token (or is filler)
    lengths: jax.Array  # int32 [rows]: tokens generated so far
    out: jax.Array      # int32 [rows, max_new_tokens]: the tokens, pad_id after each row's end
    key: jax.Array      # the PRNG key sampling draws from


def _decode(graphdef, state, cache, ids, prompt_lens, active, key, ends, pad_id, temperature,
            top_p, vocab_limit, *, max_new_tokens: int, sample: bool, chunk: int, vocab: int,
            block: int | None, per_layer: bool, fuse: bool):
    """The compiled body: prefill the left-padded prompts, then decode until done, in one loop
    whose steps read the cache in blocks up to the slots written so far (cache_attention)."""
    model = nnx.merge(graphdef, state)
    # The CPU fast path slices (and joins) each layer's weights once here, not on every step.
    layers = model.layer_list(fuse) if per_layer else None
    rows, length = ids.shape
    first = length - prompt_lens  # the slot of each row's first real prompt token
    kv_mask = jnp.arange(cache_slots(cache))[None, :] >= first[:, None]
    positions = jnp.maximum(jnp.arange(length)[None, :] - first[:, None], 0)
    last, cache = _prefill(model, layers, cache, ids, positions, kv_mask[:, :length], chunk,
                           vocab)

    choose = functools.partial(pick, sample=sample, temperature=temperature, top_p=top_p,
                               vocab_limit=vocab_limit)
    key, sub = jax.random.split(key)
    token = choose(last, sub)
    done = ~active | jnp.isin(token, ends)
    out = jnp.full((rows, max_new_tokens), pad_id, jnp.int32).at[:, 0].set(token)
    carry = DecodeState(jnp.int32(1), token, done, jnp.ones((rows,), jnp.int32), out, key)

    def step(c):  # step i feeds token i-1 into slot length + i - 1
        s, cache = c
        logits, cache = model(s.token[:, None], (prompt_lens + s.i - 1)[:, None], cache=cache,
                              cache_index=length + s.i - 1, kv_mask=kv_mask, layers=layers,
                              block=block)
        key, sub = jax.random.split(s.key)
        nxt = jnp.where(s.done, pad_id, choose(logits[:, -1], sub))
        out = jax.lax.dynamic_update_slice_in_dim(s.out, nxt[:, None], s.i, axis=1)
        lengths = s.lengths + (~s.done).astype(jnp.int32)
        done = s.done | jnp.isin(nxt, ends)
        return DecodeState(s.i + 1, nxt, done, lengths, out, key), cache

    carry, cache = jax.lax.while_loop(
        lambda c: (c[0].i < max_new_tokens) & ~jnp.all(c[0].done), step, (carry, cache))
    # A row is done here only if it emitted an end token (filler rows are not reported).
    return carry.out, carry.lengths, ~carry.done, cache


def _prefill(model, layers, cache, ids, positions, kv_mask, chunk: int, vocab: int):
    """Run the prompts [rows, length] through the model in chunks of `chunk` columns, writing
    their keys and values into the cache. Returns (float32 logits [rows, vocab] of each row's
    last prompt token, the cache)."""
    rows, length = ids.shape

    def one_chunk(c, carry):
        window, _ = carry
        start = c * chunk
        chunk_ids = jax.lax.dynamic_slice_in_dim(ids, start, chunk, axis=1)
        chunk_pos = jax.lax.dynamic_slice_in_dim(positions, start, chunk, axis=1)
        # the prompt's tokens but its last, as training marks them (Qwen2 prompt_mask)
        prompt = jnp.broadcast_to(start + jnp.arange(chunk) < length - 1, chunk_ids.shape)
        logits, window = model(chunk_ids, chunk_pos, cache=window, cache_index=start,
                               kv_mask=kv_mask, layers=layers, prompt_mask=prompt)
        return window, logits[:, -1].astype(jnp.float32)

    window, last = jax.lax.fori_loop(0, length // chunk, one_chunk,
                                     (_window(cache, length),
                                      jnp.zeros((rows, vocab), jnp.float32)))
    return last, _put_window(cache, window)


def _decode_apart(graphdef, state, cache, ids, prompt_lens, active, key, *scalars,
                  rows_apart: tuple[str, ...], fast_paths: bool, **static):
    """`_decode` traced with the CPU fast paths on or off (`speed.use_fast_paths`), and with the
    rows split over the mesh axes `rows_apart`."""
    with speed.use_fast_paths(fast_paths):
        return _decode_rows_apart(graphdef, state, cache, ids, prompt_lens, active, key, *scalars,
                                  rows_apart=rows_apart, **static)


def _decode_rows_apart(graphdef, state, cache, ids, prompt_lens, active, key, *scalars,
                       rows_apart: tuple[str, ...], **static):
    """`_decode`, with the rows split over the mesh axes `rows_apart` (where the parameters are
    replicated) decoding each in its own loop: no collective per step for `all(done)` and each
    shard stops when its own rows are done. Other mesh axes (fsdp, tensor) stay automatic."""
    if not rows_apart:
        return _decode(graphdef, state, cache, ids, prompt_lens, active, key, *scalars, **static)
    rows = P(rows_apart)

    def shard(state, cache, ids, prompt_lens, active, key, *scalars):
        # A different random stream per shard, or shards would sample alike.
        key = jax.random.fold_in(key, jax.lax.axis_index(rows_apart))
        return _decode(graphdef, state, cache, ids, prompt_lens, active, key, *scalars, **static)

    # the batch axis: [layers, batch, ...] stacked, [batch, ...] per layer
    cache_rows = {name: jax.tree.map(lambda c: P(None, rows_apart) if c.ndim == 5 else rows, a)
                  for name, a in cache.items()}
    in_specs = (P(), cache_rows, rows, rows, rows, P(), *[P()] * len(scalars))
    return jax.shard_map(shard, in_specs=in_specs,
                         out_specs=(rows, rows, rows, cache_rows), axis_names=set(rows_apart),
                         check_vma=False)(state, cache, ids, prompt_lens, active, key, *scalars)


_decode_jit = jax.jit(
    _decode_apart,
    static_argnums=(0,),
    static_argnames=("rows_apart", "max_new_tokens", "sample", "chunk", "vocab", "block",
                     "per_layer", "fast_paths", "fuse"),
    donate_argnames=("cache",),
)


class Decoder:
    """A model prepared for repeated batched generation.

    Holds the split model (graph definition + state) and the last KV cache, which the next call
    of the same (rows, max_len) shape reuses: only one cache is kept, so memory stays bounded.

    The weights are kept as decoding wants them, not as training laid them out: in the compute
    dtype (every use casts them to it, so the outputs are the same), and on a mesh with the
    fsdp axis folded into data when they fit (`decode_mesh`): replicated along the rows, each
    shard of rows decodes in its own loop with no communication per step. Prompt rows are
    sharded over the data axes and the cache as the model's sharding rules say (batch over
    data, kv heads over tensor). The layers run under `lax.scan` in one decode loop, so the
    program's size grows with neither the layers nor the budget; only shallow models on the
    CPU fast paths unroll them (UNROLL_LAYERS).

    fast_paths: trace the CPU fast paths (model/speed.py); default: on for CPU devices.
    """

    def __init__(self, model, mesh=None, cache_dtype=None, fast_paths: bool | None = None):
        cfg = model.config
        self.config = cfg
        self.cache_dtype = cache_dtype  # None: the model's compute dtype
        self.mesh = decode_mesh(cfg, mesh)
        # Mesh axes whose shards of rows decode in their own loops (see `_decode_apart`).
        self._rows_apart = sharding.replica_axes(self.mesh)
        # The CPU speed paths (model/speed.py), decided once for the mesh's devices.
        self.fast_paths = (speed.fast_paths(self.mesh.devices.flat[0].platform)
                           if fast_paths is None else fast_paths)
        self.per_layer = self.fast_paths and cfg.num_hidden_layers <= UNROLL_LAYERS
        self.fuse_projections = self.per_layer and _weights_whole(self.mesh, self._rows_apart)
        # scan_layers True: a stacked model scans on the CPU fast paths too (per-layer weights
        # are always unrolled)
        self._graphdef, self._state = nnx.split(abstract_model(cfg.replace(scan_layers=True)))
        nnx.replace_by_pure_dict(self._state, _decode_weights(params_of(model), cfg, self.mesh))
        self._cache = None
        self._cache_shape = None

    @property
    def row_multiple(self) -> int:
        """Rows per batch must be a multiple of this (the number of data shards)."""
        return _data_shards(self.mesh)

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                 end_ids: Sequence[int], *, pad_id: int = 0, temperature: float = 0.0,
                 top_p: float = 1.0, key: jax.Array | None = None,
                 rows: int | None = None, vocab_limit: int | None = None) -> Generation:
        """Continue each prompt (a list of token ids) by up to max_new_tokens tokens.

        vocab_limit: only ids below it are generated (a tokenizer smaller than the model's
        padded vocabulary, e.g. the 98 characters of a 128-row embedding, cannot decode more).
        rows: pad the batch to this many rows (e.g. the evaluation's batch size, so a last
        partial batch reuses the full batches' compile); default: the next power of two.
        """
        _check_request(prompts, max_new_tokens, end_ids, temperature, top_p, key,
                       self.config.vocab_size)
        n = len(prompts)
        if vocab_limit is not None and not 0 < vocab_limit <= self.config.vocab_size:
            raise ValueError(f"vocab_limit {vocab_limit} must be in [1, {self.config.vocab_size}]"
                             " (the model's vocabulary); pass the tokenizer's vocab_size")
        if rows is not None and rows < n:
            raise ValueError(f"rows={rows} is fewer than the {n} prompts; pass rows >= the "
                             "number of prompts, or None")
        rows = -(-(rows or bucket(n)) // self.row_multiple) * self.row_multiple
        length = bucket(max(len(p) for p in prompts), MIN_PROMPT_BUCKET)
        ids, lens = left_pad(prompts, length, rows, pad_id)
        active = np.arange(rows) < n
        key = _default_key() if key is None else key
        slots, block = cache_layout(length, max_new_tokens)
        cache = self._take_cache(rows, slots)
        ids, lens, active = self._place(ids, lens, active)
        with jax.set_mesh(self.mesh):
            out, lengths, truncated, cache = _decode_jit(
                self._graphdef, self._state, cache, ids, lens, active, key,
                _end_array(end_ids),
                np.int32(pad_id), np.float32(max(temperature, 1e-6)), np.float32(top_p),
                np.int32(vocab_limit or self.config.vocab_size),
                **self._static(rows, length, max_new_tokens, temperature > 0, block))
        self._cache = cache
        out, lengths, truncated = (_to_host(x)[:n] for x in (out, lengths, truncated))
        return Generation(out, lengths, truncated)

    def lower(self, rows: int, prompt_len: int, max_new_tokens: int, sample: bool = False):
        """The jax `Lowered` of one `generate` call shape, from shapes only: nothing is
        allocated, so the model may be abstract (`tailjax.model.abstract_model`). Its
        `.as_text()` is the program and `.compile().memory_analysis()` its memory per device.
        rows: batch rows (rounded up to `row_multiple`); prompt_len: the longest prompt."""
        rows = -(-rows // self.row_multiple) * self.row_multiple
        length = bucket(prompt_len, MIN_PROMPT_BUCKET)
        slots, block = cache_layout(length, max_new_tokens)
        cache = self._cache_structs(rows, slots)
        place = {2: sharding.batch_sharding(self.mesh, 2), 1: sharding.batch_sharding(self.mesh, 1)}
        ids, lens, active = (jax.ShapeDtypeStruct(shape, dtype, sharding=place[len(shape)])
                             for shape, dtype in (((rows, length), jnp.int32),
                                                  ((rows,), jnp.int32), ((rows,), jnp.bool_)))
        replicated = jax.sharding.NamedSharding(self.mesh, P())
        state = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                           sharding=getattr(x, "sharding", None) or replicated),
            self._state)
        scalar = {np.int32: jax.ShapeDtypeStruct((), jnp.int32),
                  np.float32: jax.ShapeDtypeStruct((), jnp.float32)}
        with jax.set_mesh(self.mesh):
            return _decode_jit.lower(
                self._graphdef, state, cache, ids, lens, active, jax.eval_shape(_default_key),
                jax.ShapeDtypeStruct((8,), jnp.int32), scalar[np.int32], scalar[np.float32],
                scalar[np.float32], scalar[np.int32],
                **self._static(rows, length, max_new_tokens, sample, block))

    def _static(self, rows: int, length: int, max_new_tokens: int, sample: bool,
                block: int | None) -> dict:
        """The static arguments of the compiled call for one shape."""
        return dict(max_new_tokens=int(max_new_tokens), sample=sample,
                    chunk=_prefill_chunk(rows, length, self.config.vocab_size),
                    vocab=self.config.vocab_size, block=block, per_layer=self.per_layer,
                    rows_apart=self._rows_apart, fast_paths=self.fast_paths,
                    fuse=self.fuse_projections)

    def _cache_structs(self, rows: int, slots: int) -> dict:
        """Shapes, dtypes and shardings of the cache: {"k": ..., "v": ...}, each one stacked
        array, or a tuple of per-layer arrays where the layers are unrolled (`per_layer`)."""
        cfg = self.config
        dtype = jnp.dtype(self.cache_dtype or cfg.compute_dtype)
        layers = cfg.num_hidden_layers
        out = {}
        for name, shape in cache_shapes(layers, rows, slots, cfg.num_key_value_heads,
                                        cfg.head_dim).items():
            spec = list(sharding.logical_to_spec(CACHE_AXES[name], shape, self.mesh))
            if self.per_layer:
                shape, spec = shape[1:], spec[1:]
            while spec and spec[-1] is None:  # the form compiled outputs carry: one compile
                spec.pop()
            struct = jax.ShapeDtypeStruct(shape, dtype,
                                          sharding=jax.sharding.NamedSharding(self.mesh, P(*spec)))
            out[name] = (struct,) * layers if self.per_layer else struct
        return out

    def _new_cache(self, rows: int, slots: int) -> dict:
        """A zeroed cache, created directly in its sharded layout on the mesh."""
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype, device=s.sharding),
                            self._cache_structs(rows, slots))

    def _take_cache(self, rows: int, max_len: int):
        """The kept cache when its shape fits, else a fresh one (the old one is released)."""
        shape = (rows, max_len)
        if self._cache is None or self._cache_shape != shape:
            self._cache = None  # drop the old buffers before allocating the new ones
            self._cache = self._new_cache(rows, max_len)
            self._cache_shape = shape
        cache, self._cache = self._cache, None  # donated: the call hands back its successor
        return cache

    def _place(self, ids, lens, active):
        return (jax.device_put(ids, sharding.batch_sharding(self.mesh, 2)),
                jax.device_put(lens, sharding.batch_sharding(self.mesh, 1)),
                jax.device_put(active, sharding.batch_sharding(self.mesh, 1)))


def generate(model, prompts: Sequence[Sequence[int]], max_new_tokens: int,
             end_ids: Sequence[int], *, pad_id: int = 0, temperature: float = 0.0,
             top_p: float = 1.0, key: jax.Array | None = None, mesh=None,
             cache_dtype=None) -> Generation:
    """Greedy (or sampled) continuation of a batch of token-id prompts; see `Decoder`.

    For many batches build one `Decoder` and call its `generate`, which keeps the KV cache.
    """
    return Decoder(model, mesh=mesh, cache_dtype=cache_dtype).generate(
        prompts, max_new_tokens, end_ids, pad_id=pad_id, temperature=temperature, top_p=top_p,
        key=key)


@functools.cache
def _default_key() -> jax.Array:
    """The key greedy calls pass (and never use): made once, not by an eager op per call."""
    return jax.random.key(0)


def _end_array(end_ids) -> np.ndarray:
    """End ids padded with -1 (never a token) to a multiple of 8, so sets of different sizes
    share a compile. (Host arrays and scalars go to the compiled call as they are: building
    them as jax arrays first costs an eager dispatch each, ~2 ms of a short generate.)"""
    ends = sorted(set(int(e) for e in end_ids))
    return np.asarray(ends + [-1] * (-len(ends) % 8 or (8 if not ends else 0)), np.int32)


def _check_request(prompts, max_new_tokens, end_ids, temperature, top_p, key, vocab):
    if len(prompts) == 0:
        raise ValueError("no prompts to decode; pass at least one list of token ids")
    for i, p in enumerate(prompts):
        if len(p) == 0:
            raise ValueError(f"prompt {i} is empty; every prompt needs at least one token")
        bad = [t for t in p if not 0 <= int(t) < vocab]
        if bad:
            raise ValueError(f"prompt {i} has token id {bad[0]} outside the model's vocabulary "
                             f"[0, {vocab}); encode it with the model's own tokenizer")
    if int(max_new_tokens) < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if any(not 0 <= int(e) < vocab for e in end_ids):
        raise ValueError(f"end ids {list(end_ids)} must lie in the vocabulary [0, {vocab})")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if temperature > 0 and key is None:
        raise ValueError("sampling (temperature > 0) needs an explicit PRNG key: "
                         "pass key=jax.random.key(seed)")


def _weights_whole(mesh, rows_apart: tuple[str, ...]) -> bool:
    """Whether every device holds the whole weights, so the CPU fast path may join q/k/v and
    gate/up into one matmul each (`layer_list(fuse=True)`; a joined split weight would have to be
    resharded). The joined copies take ~70% of the weights' memory again for the call, which is
    why accelerators, off the fast path, keep the separate weights.
    rows_apart: the mesh axes along which every parameter is replicated.
    """
    return mesh.size == math.prod(mesh.shape[a] for a in rows_apart)


def _data_shards(mesh) -> int:
    """How many ways the batch dimension is split on this mesh."""
    spec = sharding.logical_to_spec(("batch",), None, mesh)[0]
    axes = () if spec is None else (spec,) if isinstance(spec, str) else spec
    return math.prod(mesh.shape[a] for a in axes)


def decode_mesh(cfg, mesh=None):
    """The mesh a `Decoder` runs on: `mesh` (default: the first device) with its fsdp axis
    folded into data when the weights in the compute dtype, split over tensor only, take at most
    half of a device's memory (always, where the device does not report it, as on the CPU). The
    parameters are then replicated along every axis that splits the rows, and each data shard
    decodes on its own (`_decode_rows_apart`). The same devices, in the same order."""
    if mesh is None:
        return sharding.make_mesh({"data": 1}, jax.devices()[:1])
    if mesh.shape["fsdp"] == 1:
        return mesh
    weights = count_params(cfg) * jnp.dtype(cfg.compute_dtype).itemsize / mesh.shape["tensor"]
    local = next(d for d in mesh.devices.flat if d.process_index == jax.process_index())
    stats = local.memory_stats() or {}
    if weights > stats.get("bytes_limit", math.inf) / 2:
        return mesh
    devices = mesh.devices.reshape(-1, 1, mesh.shape["tensor"])  # axes (data, fsdp, tensor)
    return jax.sharding.Mesh(devices, sharding.MESH_AXES,
                             axis_types=(jax.sharding.AxisType.Auto,) * 3)


def _decode_weights(params: dict, cfg, mesh) -> dict:
    """The parameters (a nested dict of arrays, or of jax.ShapeDtypeStruct) in the compute
    dtype, placed on `mesh` by the sharding rules. Every use casts a weight to the compute dtype
    (kernels.dense, rms_norm, the embedding), so decoding computes the same values; a parameter
    already in that dtype and layout is not copied."""
    dtype = jnp.dtype(cfg.compute_dtype)

    def place(x, where):
        to = dtype if jnp.issubdtype(x.dtype, jnp.floating) else x.dtype
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.ShapeDtypeStruct(x.shape, to, sharding=where)
        if x.dtype == to and x.sharding.is_equivalent_to(where, x.ndim):
            return x
        # a compiled cast-and-reshard: every process takes part, as a mesh over hosts needs
        return jax.jit(lambda w: w.astype(to), out_shardings=where)(x)
    return jax.tree.map(place, params, param_shardings(cfg, mesh))


def _to_host(x) -> np.ndarray:
    """The whole array on this host, gathering the other processes' rows on a multi-host mesh."""
    if x.is_fully_addressable:
        return np.asarray(jax.device_get(x))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))

