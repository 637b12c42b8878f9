"""The built-in tokenizers: exact round trips on every task's text, digits one per token, the
shipped tail-bpe file reproducible from its builder, and its Hugging Face export."""

import pytest

from tailjax import tokenizer as tok_lib
from tailjax.tasks import SPLITS, TASKS, VARIANTS, synthesize
from tailjax.tokenizer import load_tokenizer

BPE = load_tokenizer("tail-bpe")
CHAR = load_tokenizer("char")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_tail_bpe_round_trips_every_split_and_variant_and_splits_digits(task):
    trace_chars = trace_tokens = 0
    for i, split in enumerate(SPLITS):
        for variant in VARIANTS:
            record = synthesize(task, split, seed=3, index=i, variant=variant)
            for text in (record["prompt"], record["completion"]):
                ids = BPE.encode(text)
                assert BPE.decode(ids) == text
                pieces = [BPE.decode([t]) for t in ids]
                # A digit never shares a token: numbers of any length read digit by digit.
                assert all(len(p) == 1 for p in pieces if any(c.isdigit() for c in p))
            if variant == "tail":
                trace_chars += len(record["completion"])
                trace_tokens += len(BPE.encode(record["completion"]))
    assert trace_chars / trace_tokens > 1.5  # the point of it: TAIL traces in fewer tokens


def test_specials_match_the_character_tokenizer():
    assert (BPE.pad_id, BPE.end_ids) == (CHAR.pad_id, CHAR.end_ids) == (0, (1,))
    assert BPE.vocab_size == 1024
    text = "a <end> b <pad>"  # text never turns into a special token, nor vanishes from decode
    assert {BPE.pad_id, BPE.end_id}.isdisjoint(BPE.encode(text))
    assert BPE.decode(BPE.encode(text)) == text


@pytest.mark.parametrize("name", ["char", "tail-bpe"])
def test_text_outside_ascii_is_one_clear_error(name):
    with pytest.raises(ValueError, match=r"character 'é' is not in the .* vocabulary"):
        load_tokenizer(name).encode("café")


def test_the_shipped_file_is_what_the_builder_makes(tmp_path):
    out = tmp_path / "tail_bpe.json"
    assert tok_lib.main(["--out", str(out)]) == 0
    with open(tok_lib.BPETokenizer.FILE, "rb") as f:
        assert out.read_bytes() == f.read()


def test_hf_export_encodes_like_the_builtin(tmp_path):
    from transformers import AutoTokenizer

    BPE.save_hf(str(tmp_path))
    hf = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    text = synthesize("addition", "M", 0, 0, "tail")["completion"]
    assert hf.encode(text, add_special_tokens=False) == BPE.encode(text)
    assert hf.decode(BPE.encode(text)) == text
    assert (hf.pad_token_id, hf.eos_token_id) == (0, 1)

    # What eval and train see when pointed at an exported model directory (whose config.json
    # names qwen2): the same vocabulary and the same ids.
    (tmp_path / "config.json").write_text('{"model_type": "qwen2"}')
    exported = load_tokenizer(str(tmp_path))
    assert (exported.vocab_size, exported.pad_id, exported.end_ids) == (1024, 0, (1,))
    assert exported.encode(text) == BPE.encode(text) and exported.decode(BPE.encode(text)) == text


def test_end_ids_are_the_union_of_tokenizer_config_and_generation_config(tmp_path):
    BPE.save_hf(str(tmp_path))  # the tokenizer's own eos is id 1
    (tmp_path / "config.json").write_text('{"model_type": "qwen2", "eos_token_id": 5}')
    assert load_tokenizer(str(tmp_path)).end_ids == (1, 5)  # no generation_config.json
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": [1, 7]}')
    tok = load_tokenizer(str(tmp_path))
    assert tok.end_ids == (1, 5, 7) and tok.pad_id == 0
    # Decoding also stops on the model's own eos (a checkpoint's config), an id or a list.
    model_cfg = type("C", (), {"eos_token_id": [9, 5]})()
    assert tok_lib.stop_ids(tok, model_cfg) == (1, 5, 7, 9)
    assert tok_lib.stop_ids(CHAR) == (1,)


def test_unknown_tokenizer_names_the_choices():
    with pytest.raises(ValueError, match="neither a built-in one \\(char, tail-bpe\\)"):
        load_tokenizer("no-such-tokenizer")


# Ids the real Qwen2.5 tokenizer gives (its tokenizer.json, as published with the models).
QWEN25_KNOWN = {
    "Hello world! This is a tokenizer sanity sample.": [9707, 1879, 0, 1096, 374, 264, 45958,
                                                        46842, 6077, 13],
    "Hello, this is a test": [9707, 11, 419, 374, 264, 1273],
    "12345": [16, 17, 18, 19, 20],
    "<|endoftext|><|im_start|><|im_end|>": [151643, 151644, 151645],
}


def test_qwen25_built_offline_gives_known_ids_and_one_token_per_digit(qwen25):
    for text, ids in QWEN25_KNOWN.items():
        assert qwen25.encode(text) == ids, text
    # Qwen2.5 base: ends on <|endoftext|> and pads with it; 151,643 ranks + 22 added tokens.
    assert (qwen25.end_ids, qwen25.pad_id, qwen25.vocab_size) == ((151643,), 151643, 151665)
    record = synthesize("addition", "M", seed=3, index=0, variant="tail-styled")
    for text in (record["prompt"], record["completion"], "carry 1, 987654321 + 12 = 987654333"):
        ids = qwen25.encode(text)
        assert qwen25.decode(ids) == text
        pieces = [qwen25.decode([t]) for t in ids]
        digits = [p for p in pieces if any(c.isdigit() for c in p)]
        assert all(len(p) == 1 for p in digits)
        assert len(digits) == sum(c.isdigit() for c in text) > 0


def test_qwen25_directory_matches_qwens_own_bpe_on_tail_text(qwen25):
    """The converted tokenizer.json encodes as tiktoken does with the same ranks and regex."""
    import tiktoken

    from tailjax import qwen25_tokenizer as q

    ranks = q.read_ranks(q.ranks_file())
    reference = tiktoken.Encoding("qwen", pat_str=q.PATTERN, mergeable_ranks=ranks,
                                  special_tokens={})
    for task in sorted(TASKS):
        record = synthesize(task, "S", seed=5, index=0, variant="tail-styled")
        for text in (record["prompt"], record["completion"]):
            assert qwen25.encode(text) == reference.encode_ordinary(text), task


def test_qwen25_cli_without_out_is_one_clear_error(capsys):
    assert tok_lib.main(["qwen2.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: qwen2.5 needs --out DIR, the tokenizer directory to write"
