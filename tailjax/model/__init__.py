"""The Qwen2 model: config, Flax NNX module, sharding rules, checkpoints and HF conversion."""

from tailjax.model.loading import checkpoint_tokenizer, load, save, save_hf
from tailjax.model.qwen2 import (CACHE_AXES, Qwen2, abstract_model, count_params, create,
                                 from_params, param_shardings, param_specs, params_of)
from tailjax.model.qwen2_config import PRESETS, Qwen2Config, preset

__all__ = ["CACHE_AXES", "PRESETS", "Qwen2", "Qwen2Config", "abstract_model", "count_params",
           "checkpoint_tokenizer", "create", "from_params", "load", "param_shardings",
           "param_specs", "params_of", "preset", "save", "save_hf"]
