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
from tailjax.tasks import SPLITS, TASKS
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
    captured = capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    # A 12-token budget is deliberately small: every cell's references need more (named before
    # decoding), and the random model's outputs hit it (named after, with their share).
    warned = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert results["warnings"] == [line[len("warning: "):] for line in warned]
    truncating = [(t, s) for t, row in results["tasks"].items() for s, c in row.items()
                  if c["truncated"] / c["n"] > 0.01]
    assert truncating  # the random model runs past 12 tokens
    for task, split in truncating:
        c = results["tasks"][task][split]
        line = (f"warning: {task} {split}: {c['truncated']} of 3 outputs "
                f"({c['truncated'] / 3:.1%}) hit the 12-token budget without an end token")
        assert any(w.startswith(line) and "set eval.max_new_tokens (--max-new-tokens) to auto"
                   in w for w in warned), line
        assert f"- **warning**: {line[len('warning: '):]}" in (out / "results.md").read_text()
    assert sum(" reference traces need more than the 12-token budget" in w
               for w in warned) == 4
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
    assert "| compare | 0.0 | 0.0 |" in captured.out


class ScriptedDecoder:
    """Answers each prompt with a scripted completion, as a real Decoder's Generation would."""

    def __init__(self, tokenizer, script):
        self.tokenizer, self.script, self.calls, self.budgets = tokenizer, script, [], []

    def generate(self, prompts, max_new_tokens, end_ids, pad_id=0, rows=None, vocab_limit=None):
        assert rows is not None and rows >= len(prompts)
        self.calls.append(len(prompts))
        self.budgets.append((max_new_tokens, [tuple(p) for p in prompts], rows))
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


@pytest.mark.parametrize("tokenizer_name, margin", [("tail-bpe", 1.0), ("qwen2.5", 1.25)])
def test_auto_budgets_cover_every_reference_trace_of_every_task_and_split(
        tokenizer_name, margin, request):
    """Scripted to write each reference trace: under `auto` none is cut off, in all 18 tasks x
    S/M/L, with margin 1 (the tightest) and the default; each decode call takes one budget."""
    tok = (load_tokenizer(tokenizer_name) if tokenizer_name != "qwen2.5" else
           request.getfixturevalue("qwen25"))
    tasks = sorted(TASKS)
    records = [r for t in tasks for s in SPLITS for r in records_lib.test_set(t, s, 2)]
    decoder = ScriptedDecoder(tok, {tuple(tok.encode(r["prompt"])): r["completion"]
                                    for r in records})
    model = type("M", (), {"config": type("C", (), {"vocab_size": 152064})})()
    warned = []
    results = evaluate(model, tok, tasks, list(SPLITS), 2, max_new_tokens="auto",
                       budget_margin=margin, batch_size=4, batch_tokens=20000, decoder=decoder,
                       progress=False, warn=warned.append)
    assert warned == [] and results["warnings"] == []
    budget_of = {}
    for r in records:
        cell = results["tasks"][r["task"]][r["split"]]
        need = len(tok.encode(r["completion"])) + 1  # the trace and the end token
        assert need <= cell["reference_tokens"] <= cell["max_new_tokens"]
        budget_of[tuple(tok.encode(r["prompt"]))] = cell["max_new_tokens"]
    for task in tasks:
        for split in SPLITS:
            cell = results["tasks"][task][split]
            assert (cell["correct"], cell["truncated"]) == (cell["n"], 0), (task, split)
            assert cell["reference_tokens"] == max(
                len(tok.encode(r["completion"])) + 1 for r in records
                if (r["task"], r["split"]) == (task, split))
            # At most the margin, then at most 50% more for the budget grid.
            assert cell["max_new_tokens"] <= cell["reference_tokens"] * margin * 1.5
    # One budget per call: a batch never mixes cells of different budgets; its rows hold at most
    # batch_tokens cache tokens (prompt padded to a power of two), or it has one row.
    for budget, prompts, rows in decoder.budgets:
        assert {budget_of[p] for p in prompts} == {budget}
        longest = max(len(p) for p in prompts)
        assert rows == 1 or rows * (2 ** (longest - 1).bit_length() + budget) <= 20000
    assert len({b for b, _, _ in decoder.budgets}) == len(set(budget_of.values())) < 54
    assert {rows for *_, rows in decoder.budgets} >= {1, 2, 4}


def test_a_budget_below_the_references_is_named_before_and_after_decoding(tmp_path, capsys):
    tok = load_tokenizer("char")
    records = records_lib.test_set("compare", "S", 5, "tail-styled")
    needs = sorted(len(tok.encode(r["completion"])) + 1 for r in records)
    budget = needs[2]  # the three shortest references fit exactly, the two longest do not
    decoder = ScriptedDecoder(tok, {tuple(tok.encode(r["prompt"])): r["completion"]
                                    for r in records})
    model = type("M", (), {"config": type("C", (), {"vocab_size": 128})})()
    results = evaluate(model, tok, ["compare"], ["S"], 5, max_new_tokens=budget,
                       decoder=decoder, progress=False, warn_truncated=0.2)
    cell = results["tasks"]["compare"]["S"]
    assert (cell["truncated"], cell["correct"], cell["max_new_tokens"]) == (2, 3, budget)
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: {w}" for w in results["warnings"]] and len(err) == 2
    assert err[0].startswith(f"warning: compare S: 2 of 5 reference traces need more than the "
                             f"{budget}-token budget (the longest {needs[-1]} with its end "
                             "token)")
    assert err[1].startswith(f"warning: compare S: 2 of 5 outputs (40.0%) hit the {budget}-token "
                             "budget without an end token (more than eval.warn_truncated 20.0%)")
    write_results(results, str(tmp_path))
    md = (tmp_path / "results.md").read_text()
    assert f"max_new_tokens {budget} for every cell" in md
    assert f"| compare | S | 3/5 | 2 | 2 | " in md and f" | {budget} | {needs[-1]} |" in md
    # At 40% exactly, a 40% threshold is not exceeded: the reference warning stays alone.
    assert len(evaluate(model, tok, ["compare"], ["S"], 5, max_new_tokens=budget,
                        decoder=decoder, progress=False, warn_truncated=0.4,
                        warn=lambda line: None)["warnings"]) == 1


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
    (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1 token, got 0"),
    (["--max-new-tokens", "atuo"], "--max-new-tokens 'atuo' is neither a number of tokens nor "
                                   "auto"),
    (["--set", "eval.max_new_tokens=auot"], "eval.max_new_tokens 'auot' is neither"),
    (["--set", "eval.warn_truncated=5"], "eval.warn_truncated must be a share of outputs"),
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


def test_the_demo_budget_is_what_auto_gives_its_longest_cell():
    """configs/demo.yaml keeps one explicit budget (one decode compile): it must cover every
    reference output of its four cells, and equal auto's budget of the longest one."""
    import os

    from tailjax.budgets import cell_budgets
    from tailjax.config import load_config
    from tailjax.eval import encode_items, eval_options, reference_needs, test_records

    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "demo.yaml"))
    o = eval_options(cfg)
    records = [r for s in o["splits"] for r in test_records(
        "addition", s, o["n"], o["variant"], o["lengths"].get(s), o["template"], o["notation"],
        o["integer"])]
    needs = reference_needs(encode_items(load_tokenizer(cfg.model.tokenizer), records))
    longest = max(needs, key=needs.get)
    assert longest == ("addition", "stretch") and needs[longest] <= o["max_new_tokens"]
    assert cell_budgets(needs, "auto", o["budget_margin"])[longest] == o["max_new_tokens"]
