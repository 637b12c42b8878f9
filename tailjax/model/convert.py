"""Hugging Face Qwen2 safetensors <-> tailjax parameters, in both directions, shard by shard.

Torch linear weights are [out, in]; tailjax keeps [in, ...out] with heads split out (see
`param_specs`), and stacks layers. Each HF tensor maps to one layer slice of one tailjax
parameter through a reshape and a transpose (`_Rule`); both directions use the same rules.

Loading builds every parameter with `jax.make_array_from_callback`: each device's shard is
copied straight out of the memory-mapped files, so the host never holds more than the model in
its target dtype (and, on accelerators, not even that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import jax
import numpy as np

from tailjax.model.qwen2 import Qwen2Config, flat_items, nest, param_specs
from tailjax.model.safetensors_io import DTYPES, SafetensorsDir, write_dir

FLOAT_DTYPES = ("F32", "BF16", "F16")  # the safetensors dtypes a Qwen2 checkpoint may store


@dataclass(frozen=True)
class _Rule:
    """HF tensor <-> (one layer of) a tailjax parameter.

    HF [hf_shape] --reshape(split)--> --transpose(perm)--> tailjax [ours].
    """

    hf_name: str
    param: str           # path in the parameter tree, e.g. "layers/q"
    layer: int | None    # index along the stacked "layers" axis
    split: tuple[int, ...]
    perm: tuple[int, ...]
    hf_shape: tuple[int, ...]

    def to_ours(self, hf: np.ndarray) -> np.ndarray:
        """A (lazy, when hf is memory-mapped) view in the tailjax layout."""
        return hf.reshape(self.split).transpose(self.perm)

    def to_hf(self, ours: np.ndarray) -> np.ndarray:
        return ours.transpose(np.argsort(self.perm)).reshape(self.hf_shape)


def rules(cfg: Qwen2Config) -> list[_Rule]:
    d, f, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    h, kv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    out = [_Rule("model.embed_tokens.weight", "embed", None, (v, d), (0, 1), (v, d)),
           _Rule("model.norm.weight", "final_norm", None, (d,), (0,), (d,))]
    if not cfg.tie_word_embeddings:
        out.append(_Rule("lm_head.weight", "lm_head", None, (v, d), (1, 0), (v, d)))
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        out += [
            _Rule(p + "input_layernorm.weight", "layers/attn_norm", i, (d,), (0,), (d,)),
            _Rule(p + "self_attn.q_proj.weight", "layers/q", i, (h, hd, d), (2, 0, 1), (h * hd, d)),
            _Rule(p + "self_attn.q_proj.bias", "layers/q_bias", i, (h, hd), (0, 1), (h * hd,)),
            _Rule(p + "self_attn.k_proj.weight", "layers/k", i, (kv, hd, d), (2, 0, 1),
                  (kv * hd, d)),
            _Rule(p + "self_attn.k_proj.bias", "layers/k_bias", i, (kv, hd), (0, 1), (kv * hd,)),
            _Rule(p + "self_attn.v_proj.weight", "layers/v", i, (kv, hd, d), (2, 0, 1),
                  (kv * hd, d)),
            _Rule(p + "self_attn.v_proj.bias", "layers/v_bias", i, (kv, hd), (0, 1), (kv * hd,)),
            _Rule(p + "self_attn.o_proj.weight", "layers/o", i, (d, h, hd), (1, 2, 0), (d, h * hd)),
            _Rule(p + "post_attention_layernorm.weight", "layers/mlp_norm", i, (d,), (0,), (d,)),
            _Rule(p + "mlp.gate_proj.weight", "layers/gate", i, (f, d), (1, 0), (f, d)),
            _Rule(p + "mlp.up_proj.weight", "layers/up", i, (f, d), (1, 0), (f, d)),
            _Rule(p + "mlp.down_proj.weight", "layers/down", i, (d, f), (1, 0), (d, f)),
        ]
    return out


def check_hf_tensors(cfg: Qwen2Config, files: SafetensorsDir) -> list[_Rule]:
    """Every expected tensor present with its shape and a float dtype, nothing unexpected."""
    expected = rules(cfg)
    names = {r.hf_name for r in expected}
    for r in expected:
        info = files.tensors.get(r.hf_name)
        if info is None:
            raise ValueError(f"tensor {r.hf_name} is missing from {files.directory} (expected "
                             f"shape {list(r.hf_shape)}); the checkpoint is incomplete or does "
                             "not match config.json")
        if info.shape != r.hf_shape:
            raise ValueError(f"tensor {r.hf_name} has shape {list(info.shape)}, expected "
                             f"{list(r.hf_shape)} from config.json")
        if info.dtype not in FLOAT_DTYPES:
            raise ValueError(f"tensor {r.hf_name} has dtype {info.dtype}, expected one of "
                             f"{'/'.join(FLOAT_DTYPES)} (quantized checkpoints are not supported)")
    for name in files.tensors:
        if name in names:
            continue
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            _check_tied_head(files)
            continue
        if name.endswith("rotary_emb.inv_freq"):  # a buffer older exports include; recomputed
            continue
        raise ValueError(f"unexpected tensor {name} in {files.directory} (shape "
                         f"{list(files.tensors[name].shape)}); it is not part of a Qwen2 model "
                         "with this config.json")
    return expected


def _check_tied_head(files: SafetensorsDir) -> None:
    head, embed = files.array("lm_head.weight"), files.array("model.embed_tokens.weight")
    if head.shape != embed.shape or not np.array_equal(head, embed):
        raise ValueError("tensor lm_head.weight differs from model.embed_tokens.weight but "
                         "config.json sets tie_word_embeddings; set it to false")


def stored_dtype(files: SafetensorsDir) -> str:
    """The checkpoint's parameter dtype ("bfloat16", ...): that of its embedding."""
    return str(DTYPES[files.tensors["model.embed_tokens.weight"].dtype])


def load_hf_params(cfg: Qwen2Config, directory: str, shardings=None) -> dict:
    """The parameter tree (cfg.param_dtype) read from an HF directory's safetensors.

    `shardings`: an optional tree of jax.sharding.Sharding like the parameters (see
    qwen2.param_shardings); by default everything goes to the first device.
    """
    files = SafetensorsDir(directory)
    by_param: dict[str, list[_Rule]] = {}
    for r in check_hf_tensors(cfg, files):
        by_param.setdefault(r.param, []).append(r)
    dtype = np.dtype(cfg.weight_dtype)
    specs = dict(flat_items(param_specs(cfg)))
    flat_shardings = dict(flat_items(shardings)) if shardings is not None else {}
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    out = {}
    for name, (shape, _) in specs.items():
        source = _param_source(by_param[name], files, shape, dtype)
        out[name] = jax.make_array_from_callback(shape, flat_shardings.get(name, default), source)
        # The copy out of the host buffer is asynchronous: without waiting, many parameters'
        # host buffers were alive at once (+0.14x the weights at the peak).
        out[name].block_until_ready()
    return nest(out)


def _param_source(param_rules: list[_Rule], files, shape, dtype) -> Callable:
    """The callback that copies one device's shard of a parameter out of the files."""
    if param_rules[0].layer is None:
        (r,) = param_rules
        return lambda index: np.asarray(r.to_ours(files.array(r.hf_name))[index], dtype)
    by_layer = sorted(param_rules, key=lambda r: r.layer)

    def source(index):
        layers = range(shape[0])[index[0]]
        rest = tuple(index[1:])
        first = by_layer[0].to_ours(files.array(by_layer[0].hf_name))[rest]
        out = np.empty((len(layers),) + first.shape, dtype)
        for j, i in enumerate(layers):
            r = by_layer[i]
            out[j] = r.to_ours(files.array(r.hf_name))[rest]
        return out
    return source


def hf_tensors(cfg: Qwen2Config, fetch: Callable[[str], object]) -> Iterator[tuple]:
    """(name, shape, dtype, producer) for every HF tensor, for safetensors_io.write_dir.

    fetch(param) returns one parameter ("layers/q") of dtype cfg.param_dtype. Tensors come
    parameter by parameter, so each parameter is fetched once, when its first tensor is
    written, and dropped after its last: only one parameter is on the host at a time.
    """
    dtype = np.dtype(cfg.weight_dtype)
    order = {name: i for i, (name, _) in enumerate(flat_items(param_specs(cfg)))}
    held: dict[str, np.ndarray] = {}

    def parameter(name):
        if name not in held:
            held.clear()  # the previous parameter's tensors are all written
            held[name] = fetch(name)
        return held[name]

    for r in sorted(rules(cfg), key=lambda r: (order[r.param], r.layer or 0)):
        def produce(r=r):
            array = parameter(r.param)
            ours = array if r.layer is None else array[r.layer]
            return r.to_hf(np.asarray(jax.device_get(ours)))
        yield r.hf_name, r.hf_shape, dtype, produce


def save_hf_params(cfg: Qwen2Config, fetch: Callable[[str], object], directory: str) -> list[str]:
    """Write the parameters (read one at a time with `fetch`, see hf_tensors) as HF safetensors,
    sharded above 5 GiB; returns the file names."""
    return write_dir(directory, hf_tensors(cfg, fetch))
