"""Qwen2Config: the model's shape, read from and written to a Hugging Face config.json.

Handles both transformers layouts: rope_theta at the top level (transformers 4) or inside
"rope_parameters" (transformers 5; "rope_scaling" is the older name of the same dict). Only plain
RoPE is implemented, so any other rope type is an error rather than a silent ignore. The same holds
for every key that changes what the model computes: `layer_types` (transformers 5's per-layer
"full_attention" / "sliding_attention" list) is read and wins over `max_window_layers`, as in
transformers; a quantized checkpoint (`quantization_config`), another activation or another
layer type is refused with one line. Keys that change only training in transformers
(attention_dropout, initializer_range, pad_token_id) or only its caching (use_cache) are ignored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

import jax.numpy as jnp

from tailjax.paths import resolve

# Activation checkpointing per layer, least memory first (model/qwen2.py _REMAT_POLICIES says
# what each keeps; the save_* names are MaxText's remat_policy values): full keeps only each
# layer's input, save_* keep those named projections too, dots every weight matmul's output,
# none everything autodiff wants.
REMAT_MODES = ("full", "save_out_proj", "save_qkv_proj", "save_dot_except_mlp", "dots", "none")
# How attention sees positions. "rope" is Qwen2's (every head rotary, unbounded); the others are
# for models trained from scratch and have no transformers equivalent:
#   nope    no position encoding in any head (only the causal mask orders tokens);
#   hybrid  `local_heads` kv heads (with their query groups) rotary within `local_window` tokens,
#           the other heads global with no position encoding (arXiv 2404.12224's RoPE/NoPE mix).
POSITION_ENCODINGS = ("rope", "nope", "hybrid")
LAYER_TYPES = ("full_attention", "sliding_attention")
# How the training forward computes attention (model/attention.py says what each is and does).
ATTENTION_BACKENDS = ("auto", "xla", "blockwise", "splash", "cudnn", "pallas_gpu")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Qwen2Config:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int = 0  # 0 = hidden_size // num_attention_heads, as transformers computes it
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    use_sliding_window: bool = False
    sliding_window: int | None = None
    max_window_layers: int = 28
    layer_types: tuple[str, ...] | None = None  # per layer; None = from max_window_layers
    max_position_embeddings: int = 32768
    position_encoding: str = "rope"  # see POSITION_ENCODINGS
    local_heads: int = 0           # hybrid: how many kv heads are local (rotary, windowed)
    local_window: int = 0          # hybrid: a local head sees this many tokens, itself included
    # hybrid: at the prompt's tokens (`prompt_mask`) local heads see this many tokens instead
    # (0: local_window), so that no token of the problem statement can place itself by its
    # distance to the statement's start or to " + ", whatever the operands' length.
    prompt_window: int = 0
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    # How to run it (not part of config.json):
    dtype: str = "float32"         # compute dtype of activations and matmuls
    param_dtype: str = "float32"   # storage dtype of the parameters
    scan_layers: bool | None = None  # lax.scan over layers; None = scan except on the CPU
    remat: str = "none"            # activation checkpointing per layer: see REMAT_MODES
    attention: str = "auto"        # the training forward's attention backend: ATTENTION_BACKENDS
    # Rows may hold several sequences (data.pack). False (one sequence per row, then padding)
    # lets attention run on cuDNN, which takes lengths rather than segment ids.
    packed_rows: bool = True
    # Multiplies the attention logits of every head that attends beyond a window (all heads but
    # hybrid's local ones); > 1 sharpens attention over contexts longer than those trained on.
    attn_logit_scale: float = 1.0

    def __post_init__(self):
        if self.head_dim == 0:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        if isinstance(self.eos_token_id, list):
            object.__setattr__(self, "eos_token_id", tuple(self.eos_token_id))
        if self.layer_types is not None:
            object.__setattr__(self, "layer_types", tuple(self.layer_types))
            self._check_layer_types()
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads {self.num_attention_heads} is not a multiple "
                             f"of num_key_value_heads {self.num_key_value_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")
        if self.remat not in REMAT_MODES:
            raise ValueError(f"remat {self.remat!r} is not one of {', '.join(REMAT_MODES)}")
        if self.attention not in ATTENTION_BACKENDS:
            raise ValueError(f"attention {self.attention!r} is not one of "
                             f"{', '.join(ATTENTION_BACKENDS)}")
        for name in ("dtype", "param_dtype"):
            if getattr(self, name) not in DTYPES:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of "
                                 f"{', '.join(DTYPES)}")
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding {self.position_encoding!r} is not one of "
                             f"{', '.join(POSITION_ENCODINGS)}")
        if self.position_encoding == "hybrid" and not (
                0 < self.local_heads < self.num_key_value_heads and self.local_window > 0):
            raise ValueError(
                f"position_encoding hybrid needs 0 < local_heads < num_key_value_heads "
                f"({self.num_key_value_heads}) and local_window > 0; got local_heads "
                f"{self.local_heads}, local_window {self.local_window}")
        if self.prompt_window and (self.position_encoding != "hybrid" or self.prompt_window < 0):
            raise ValueError(f"prompt_window {self.prompt_window} applies to position_encoding "
                             "hybrid only, and must be positive (0 = local_window)")
        if self.use_sliding_window and not self.sliding_window:
            raise ValueError("use_sliding_window is true but sliding_window is not set")

    def _check_layer_types(self):
        types = self.layer_types
        if len(types) != self.num_hidden_layers or any(t not in LAYER_TYPES for t in types):
            raise ValueError(f"layer_types must list {self.num_hidden_layers} entries, each one of "
                             f"{', '.join(LAYER_TYPES)}; got {list(types)}")
        if "sliding_attention" in types and not self.use_sliding_window:
            raise ValueError("layer_types names sliding_attention layers but use_sliding_window "
                             "is false (transformers cannot run that config either); set "
                             "use_sliding_window and sliding_window, or make them full_attention")

    @property
    def compute_dtype(self):
        return jnp.dtype(self.dtype)

    @property
    def weight_dtype(self):
        return jnp.dtype(self.param_dtype)

    @property
    def sliding_layers(self) -> tuple[bool, ...]:
        """Which layers use the sliding window, as transformers decides: layer_types when given,
        else layer i >= max_window_layers."""
        if self.layer_types is not None:
            return tuple(t == "sliding_attention" for t in self.layer_types)
        return tuple(self.use_sliding_window and i >= self.max_window_layers
                     for i in range(self.num_hidden_layers))

    @property
    def local_kv_heads(self) -> tuple[bool, ...]:
        """Per kv head: rotary and windowed (True) or global (False). All True for rope."""
        kv = self.num_key_value_heads
        if self.position_encoding == "hybrid":
            return tuple(i < self.local_heads for i in range(kv))
        return (self.position_encoding == "rope",) * kv

    def replace(self, **changes) -> "Qwen2Config":
        return dataclasses.replace(self, **changes)

    # ---- Hugging Face config.json -------------------------------------------------------------

    @classmethod
    def from_hf(cls, hf: Mapping[str, Any], **runtime) -> "Qwen2Config":
        """From a config.json dict (transformers 4 or 5 layout); `runtime` sets dtype etc."""
        model_type = hf.get("model_type", "qwen2")
        if model_type != "qwen2":
            raise ValueError(f"config.json has model_type {model_type!r}; tailjax implements "
                             "Qwen2/Qwen2.5 (model_type 'qwen2')")
        act = hf.get("hidden_act", "silu")
        if act != "silu":
            raise ValueError(f"config.json has hidden_act {act!r}; Qwen2 uses 'silu'")
        rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type != "default":
            raise ValueError(f"unsupported rope scaling type {rope_type!r} in config.json "
                             "(rope_parameters/rope_scaling); tailjax implements only plain RoPE "
                             "('default'): remove the scaling entry or use another model")
        if rope.get("partial_rotary_factor", 1.0) != 1.0:
            raise ValueError("partial_rotary_factor != 1 is not supported by Qwen2")
        if hf.get("quantization_config"):
            method = hf["quantization_config"].get("quant_method", "?")
            raise ValueError(f"config.json has a quantization_config ({method}); tailjax loads "
                             "only unquantized float weights")
        missing = [k for k in ("vocab_size", "hidden_size", "intermediate_size",
                               "num_hidden_layers", "num_attention_heads") if k not in hf]
        if missing:
            raise ValueError(f"config.json lacks {', '.join(missing)}; is it a Qwen2 config?")
        use_sw = bool(hf.get("use_sliding_window", False))
        return cls(
            vocab_size=hf["vocab_size"],
            hidden_size=hf["hidden_size"],
            intermediate_size=hf["intermediate_size"],
            num_hidden_layers=hf["num_hidden_layers"],
            num_attention_heads=hf["num_attention_heads"],
            num_key_value_heads=hf.get("num_key_value_heads") or hf["num_attention_heads"],
            head_dim=hf.get("head_dim") or 0,
            rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
            rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
            tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
            use_sliding_window=use_sw,
            sliding_window=hf.get("sliding_window") if use_sw else None,
            max_window_layers=hf.get("max_window_layers", 28),
            layer_types=hf.get("layer_types"),
            max_position_embeddings=hf.get("max_position_embeddings", 32768),
            position_encoding=hf.get("position_encoding", "rope"),
            local_heads=hf.get("local_heads", 0),
            local_window=hf.get("local_window", 0),
            prompt_window=hf.get("prompt_window", 0),
            bos_token_id=hf.get("bos_token_id"),
            eos_token_id=hf.get("eos_token_id"),
            **runtime,
        )

    @classmethod
    def from_file(cls, path: str, **runtime) -> "Qwen2Config":
        with open(path) as f:
            return cls.from_hf(json.load(f), **runtime)

    def to_hf(self) -> dict[str, Any]:
        """A config.json dict that transformers 4 and 5 (and vLLM) read. A model with another
        position encoding than rope also gets its tailjax keys (position_encoding, local_heads,
        local_window, prompt_window), which transformers would ignore: `check_hf_compatible` refuses those
        where a transformers model is to be written."""
        eos = list(self.eos_token_id) if isinstance(self.eos_token_id, tuple) else self.eos_token_id
        return {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": self.rope_theta},
            "tie_word_embeddings": self.tie_word_embeddings,
            "use_sliding_window": self.use_sliding_window,
            "sliding_window": self.sliding_window,
            "max_window_layers": self.max_window_layers,
            "max_position_embeddings": self.max_position_embeddings,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "use_cache": True,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": eos,
            **({"layer_types": list(self.layer_types)} if self.layer_types else {}),
            "dtype": self.param_dtype,
            "torch_dtype": self.param_dtype,
            **({} if self.position_encoding == "rope" else {
                "position_encoding": self.position_encoding, "local_heads": self.local_heads,
                "local_window": self.local_window, "prompt_window": self.prompt_window}),
        }

    def check_hf_compatible(self) -> None:
        """Raises ValueError when transformers' Qwen2 cannot compute this model."""
        if self.position_encoding != "rope":
            raise ValueError(
                f"this model uses position_encoding {self.position_encoding!r}, which "
                "transformers' Qwen2 cannot represent (it applies RoPE to every head); only "
                "position_encoding rope models can be exported to Hugging Face")

    def save(self, path: str, **extra) -> None:
        """Write config.json-style JSON (plus `extra` keys such as "tokenizer"); path may be a
        gs:// URI."""
        target = resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({**self.to_hf(), **extra}, indent=2, sort_keys=True) + "\n")


_QWEN25 = dict(rms_norm_eps=1e-6, rope_theta=1e6, max_position_embeddings=32768,
               bos_token_id=151643, eos_token_id=151643)

PRESETS: dict[str, dict[str, Any]] = {
    # The CPU demo: ~2.9M parameters, for the 98-symbol character tokenizer (vocab padded to 128).
    "tiny": dict(vocab_size=128, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                 num_attention_heads=8, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
                 rope_theta=10000.0, tie_word_embeddings=True, max_position_embeddings=8192,
                 eos_token_id=1),
    # Qwen2.5 base models, from their config.json files.
    "qwen2.5-0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         tie_word_embeddings=True, max_window_layers=24, **_QWEN25),
    "qwen2.5-1.5b": dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960,
                         num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                         tie_word_embeddings=True, max_window_layers=28, **_QWEN25),
    "qwen2.5-3b": dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008,
                       num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
                       tie_word_embeddings=True, max_window_layers=36, **_QWEN25),
    "qwen2.5-7b": dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                       num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                       tie_word_embeddings=False, max_window_layers=28, **_QWEN25),
}
PRESETS["0.5b"] = PRESETS["qwen2.5-0.5b"]
PRESETS["1.5b"] = PRESETS["qwen2.5-1.5b"]
PRESETS["3b"] = PRESETS["qwen2.5-3b"]
PRESETS["7b"] = PRESETS["qwen2.5-7b"]


def preset(name: str, **overrides) -> Qwen2Config:
    """A named model shape ("tiny", "qwen2.5-0.5b" / "0.5b", "1.5b", "3b", "7b")."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return Qwen2Config(**{**PRESETS[name], **overrides})
