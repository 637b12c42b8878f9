"""`python -m tailjax.eval` and `evaluate`: test sets, scoring, the three result files, errors.

The end-to-end run decodes a converted tiny random Qwen2 (a tailjax checkpoint that records the
character tokenizer); the accounting test replays known completions through a scripted decoder
so that correct, wrong, unparsed and truncated outputs are all present and counted.
"""

import json

import numpy as np
import pytest

from tailjax.data import records as records_lib
from tailjax.decode import Generation
from tailjax.eval import evaluate, main
from tailjax.results import results_markdown, write_results
from tailjax.model import load, save
from tailjax.tokenizer import load_tokenizer

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

LENGTHS = ["--set", "eval.lengths.S=[1,3]", "--set", "eval.lengths.M=[4,5]"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tailjax model checkpoint converted from a random HF model, tokenizer "char"."""
    torch.manual_seed(0)
    cfg = transformers.Qwen2Config(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        tie_word_embeddings=True, rope_theta=10000.0)
    hf_dir = tmp_path_factory.mktemp("hf")
    transformers.Qwen2ForCausalLM(cfg).save_pretrained(hf_dir)
    path = tmp_path_factory.mktemp("ckpt") / "model"
    save(load(str(hf_dir), dtype="float32"), str(path), tokenizer="char")
    return str(path)


def test_eval_cli_end_to_end_writes_the_three_files(checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["--checkpoint", checkpoint, "--tasks", "addition,compare", "--splits", "S,M",
                 "--n", "3", "--max-new-tokens", "12", "--batch-size", "8", "--dtype",
                 "float32", "--out", str(out), "--no-progress", *LENGTHS])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    for task in ("addition", "compare"):
        for split in ("S", "M"):
            cell = results["tasks"][task][split]
            # a random model writes no \boxed{}: every output is wrong and counted unparsed
            assert cell["n"] == 3 and cell["correct"] == 0 and cell["unparsed"] == 3
            assert 1 <= cell["mean_generated_tokens"] <= 12
            assert cell["truncated"] == sum(
                s["generated_tokens"] == 12 and s["task"] == task and s["split"] == split
                for s in map(json.loads, (out / "samples.jsonl").read_text().splitlines()))
    assert results["lengths"] == {"S": [1, 3], "M": [4, 5]}
    table = (out / "results.md").read_text()
    assert "| addition | 0.0 | 0.0 |" in table and "| task | S | M |" in table
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| compare | 0.0 | 0.0 |" in capsys.readouterr().out


class ScriptedDecoder:
    """Answers each prompt with a scripted completion, as a real Decoder's Generation would."""

    def __init__(self, tokenizer, script):
        self.tokenizer, self.script, self.calls = tokenizer, script, []

    def generate(self, prompts, max_new_tokens, end_ids, pad_id=0, rows=None, vocab_limit=None):
        assert rows is not None and rows >= len(prompts)
        self.calls.append(len(prompts))
        rows = []
        for p in prompts:
            ids = self.tokenizer.encode(self.script[tuple(p)]) + [end_ids[0]]
            # A real decoder stops at the first of the end ids.
            stop = next((i for i, t in enumerate(ids) if t in end_ids), len(ids))
            rows.append(ids[:stop + 1][:max_new_tokens])
        tokens = np.full((len(rows), max_new_tokens), pad_id, np.int32)
        for b, r in enumerate(rows):
            tokens[b, :len(r)] = r
        lengths = np.array([len(r) for r in rows])
        truncated = np.array([r[-1] not in end_ids for r in rows])
        return Generation(tokens, lengths, truncated)


def test_scores_count_correct_wrong_unparsed_and_truncated(tmp_path):
    tok = load_tokenizer("char")
    records = records_lib.test_set("addition", "S", 4, "tail-styled", lengths=(1, 3))
    budget = max(len(tok.encode(r["completion"])) for r in records) + 1
    script = {
        tuple(tok.encode(records[0]["prompt"])): records[0]["completion"],            # correct
        tuple(tok.encode(records[1]["prompt"])): "so the sum is \\boxed{-1}",           # wrong
        tuple(tok.encode(records[2]["prompt"])): "I am not sure",                      # unparsed
        tuple(tok.encode(records[3]["prompt"])): "x" * (budget + 5),         # truncated, unparsed
    }
    decoder = ScriptedDecoder(tok, script)
    model = type("M", (), {"config": type("C", (), {"vocab_size": 128})})()
    results = evaluate(model, tok, ["addition"], ["S"], 4, lengths={"S": (1, 3)},
                       batch_size=3, max_new_tokens=budget, decoder=decoder, progress=False)
    cell = results["tasks"]["addition"]["S"]
    assert (cell["n"], cell["correct"], cell["unparsed"], cell["truncated"]) == (4, 1, 2, 1)
    assert cell["accuracy"] == 0.25
    assert sorted(decoder.calls) == [1, 3]  # batched by batch_size
    assert "| addition | 25.0 |" in results_markdown(results)
    paths = write_results(results, str(tmp_path))
    samples = [json.loads(line) for line in open(paths[-1])]
    assert sum(s["correct"] for s in samples) == 1
    assert {s["parsed"] for s in samples} == {records[0]["answer"], "-1", None}


def test_decoding_stops_at_the_model_configs_end_token():
    # The model's config.json names "#" (an ordinary character to the tokenizer) as its end
    # token: what follows it is never generated, so its \boxed{} is not scored.
    tok = load_tokenizer("char")
    record = records_lib.test_set("addition", "S", 1, "tail-styled", lengths=(1, 3))[0]
    script = {tuple(tok.encode(record["prompt"])): "\\boxed{-1}#" + record["completion"]}
    end = tok.encode("#")[0]
    model = type("M", (), {"config": type("C", (), {"vocab_size": 128, "eos_token_id": end})})()
    results = evaluate(model, tok, ["addition"], ["S"], 1, lengths={"S": (1, 3)}, batch_size=1,
                       max_new_tokens=4000, decoder=ScriptedDecoder(tok, script), progress=False)
    assert results["samples"][0]["output"] == "\\boxed{-1}"
    assert results["tasks"]["addition"]["S"]["correct"] == 0


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "nosuchtask"], "unknown task 'nosuchtask'"),
    (["--splits", "S,XL"], "unknown split 'XL'"),
    (["--n", "0"], "must be positive"),
    (["--n", "501"], "n <= 500"),
    (["--tokenizer", "/no/such/dir"], "neither a built-in one"),
])
def test_bad_inputs_exit_2_with_one_clear_line(checkpoint, argv, message, capsys):
    base = ["--checkpoint", checkpoint, "--tasks", "addition", "--splits", "S", "--n", "1",
            "--no-progress"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_missing_checkpoint_and_missing_flag_are_clear_errors(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([]) == 2
    assert "--checkpoint is required" in capsys.readouterr().err


def test_plan_prints_the_kv_cache_per_device(capsys):
    assert main(["--plan", "--set", "model.preset=qwen2.5-7b", "--batch-size", "32",
                 "--mesh", "data=2,tensor=4"]) == 0
    out = capsys.readouterr().out
    assert "[batch 32, tokens 32768, kv heads 4, head dim 128]" in out
    assert "per device      7.00 GiB" in out and "56.00 GiB" in out


def test_accuracy_per_input_length_and_the_stretch_split(tmp_path):
    """Tagged records of S and a stretch range, scripted right for some lengths and wrong for
    others: every length is tallied on its own, in results.json, results.md and the plot."""
    tok = load_tokenizer("tail-bpe")
    form = dict(template=0, notation="tagged", integer=True)
    s = records_lib.test_set("addition", "S", 12, "tail", (2, 4), **form)
    stretch = records_lib.test_set("addition", "L", 12, "tail", (9, 9), **form)
    script = {tuple(tok.encode(r["prompt"])): (r["completion"] if r["length"] != 3 else
                                               r"\boxed{0}") for r in s}
    script.update({tuple(tok.encode(r["prompt"])): r"\boxed{A1}" for r in stretch})
    model = type("M", (), {"config": type("C", (), {"vocab_size": 1024})})()
    results = evaluate(model, tok, ["addition"], ["S", "stretch"], 12, "tail",
                       lengths={"S": (2, 4), "stretch": (9, 9)}, batch_size=5,
                       max_new_tokens=800, decoder=ScriptedDecoder(tok, script),
                       progress=False, train_lengths={"S": [2, 4]}, **form)
    by_length = results["by_length"]["addition"]
    expected = {n: sum(r["length"] == n for r in s) for n in (2, 3, 4)}
    assert set(by_length) == {"2", "3", "4", "9"} and by_length["9"]["n"] == 12
    for n in (2, 4):
        assert by_length[str(n)]["correct"] == by_length[str(n)]["n"] == expected[n]
    assert by_length["3"]["correct"] == 0 and by_length["9"]["correct"] == 0
    cell = results["tasks"]["addition"]["stretch"]
    assert (cell["n"], cell["correct"]) == (12, 0)
    assert results["tasks"]["addition"]["S"]["correct"] == expected[2] + expected[4]
    paths = write_results(results, str(tmp_path))
    md = (tmp_path / "results.md").read_text()
    assert "trained on S 2-4" in md and f"| addition | 3 | 0/{expected[3]} | 0.0 |" in md
    assert (tmp_path / "accuracy_by_length.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "results.json").read_text())["by_length"] == \
        results["by_length"] and len(paths) == 5
