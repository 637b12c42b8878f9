"""Tokenizers: the character tokenizer of the tiny default, and Hugging Face tokenizer directories.

Both expose the same small surface: `encode(text) -> list[int]`, `decode(ids) -> str`,
`vocab_size`, `pad_id` and `end_ids` (a set: Qwen2.5 base ends on 151643, instruct adds 151645).
"""

from __future__ import annotations

import json
import os
import string
from typing import Protocol, Sequence


class Tokenizer(Protocol):
    vocab_size: int
    pad_id: int
    end_ids: tuple[int, ...]

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


class CharTokenizer:
    """One token per character of printable ASCII plus newline; id 0 pads, id 1 ends a sample.

    TAIL prompts and traces are ASCII; any other character is an error, never silently dropped.
    """

    name = "char"
    SPECIALS = ("<pad>", "<end>")
    CHARS = "\n" + "".join(c for c in string.printable if c.isprintable())

    def __init__(self):
        self.pad_id, self.end_id = 0, 1
        self.end_ids = (self.end_id,)
        self._ids = {c: i + len(self.SPECIALS) for i, c in enumerate(self.CHARS)}
        self.vocab_size = len(self.SPECIALS) + len(self.CHARS)

    def encode(self, text: str) -> list[int]:
        try:
            return [self._ids[c] for c in text]
        except KeyError as e:
            raise ValueError(
                f"character {e.args[0]!r} is not in the character tokenizer's vocabulary "
                f"(printable ASCII and newline); use an HF tokenizer directory for other text"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        n = len(self.SPECIALS)
        return "".join(self.CHARS[i - n] for i in ids if i >= n)


class HFTokenizer:
    """A local Hugging Face tokenizer directory (tokenizer.json / tokenizer_config.json)."""

    def __init__(self, path: str):
        from transformers import AutoTokenizer

        self.name = path
        self._tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        ends = _end_ids(path, self._tok.eos_token_id)
        if not ends:
            raise ValueError(f"tokenizer at {path} names no end-of-sequence token; set eos_token "
                             "in its tokenizer_config.json or eos_token_id in generation_config.json")
        self.end_ids = tuple(sorted(ends))
        pad = self._tok.pad_token_id
        self.pad_id = pad if pad is not None else self.end_ids[0]
        self.vocab_size = len(self._tok)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)


def _end_ids(path: str, eos_id: int | None) -> set[int]:
    """The tokenizer's eos plus every eos_token_id of generation_config.json, when present."""
    ends = {eos_id} if eos_id is not None else set()
    gen = os.path.join(path, "generation_config.json")
    if os.path.exists(gen):
        with open(gen) as f:
            value = json.load(f).get("eos_token_id")
        ends |= set(value if isinstance(value, list) else [value] if value is not None else [])
    return ends


def load_tokenizer(spec: str) -> Tokenizer:
    """"char" for the built-in character tokenizer, else a local HF tokenizer directory."""
    if spec == "char":
        return CharTokenizer()
    if not os.path.isdir(spec):
        raise ValueError(f"tokenizer {spec!r} is neither 'char' nor a local directory with an HF "
                         "tokenizer (tokenizer.json); point it at the model's directory")
    return HFTokenizer(spec)
