"""`python -m tailjax.data`: list, generate, stats, verify, and one-line errors on bad input."""

import json
import subprocess
import sys

import pytest

from tailjax.data import records
from tailjax.data.__main__ import main
from tailjax.tasks import (RECORD_KEYS, TASKS, canonical_key, get_task, instance_key,
                           sample_instance, score)
from tailjax.tokenizer import load_tokenizer

FOUNDATION = {"addition": "S=10-30 M=31-40 L=41-50", "division": "S=2-5 M=6-10 L=11-20",
              "bubble_sort": "S=2-4 M=5-6 L=7-8", "word_flip": "S=10-20 M=21-50 L=51-100",
              "compare": "S=5-10 M=11-20 L=21-50", "binary_search": "S=5-20 M=21-40 L=41-70"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tailjax.data", *args], capture_output=True,
                          text=True)


def generate(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["generate", *args, "--out", str(out)]) == 0
    return out


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_list_names_every_task_with_its_ranges():
    res = run_cli("list")
    assert res.returncode == 0, res.stderr
    lines = {ln.split()[0]: ln for ln in res.stdout.splitlines()}
    assert set(TASKS) <= set(lines)
    for task, ranges in FOUNDATION.items():
        assert ranges in lines[task] and TASKS[task].paradigm in lines[task]


def test_generate_is_byte_identical_and_valid(tmp_path):
    args = ["--task", "division", "--split", "M", "--n", "30", "--seed", "5", "--variant", "tail"]
    a, b = generate(tmp_path, "a.jsonl", *args), generate(tmp_path, "b.jsonl", *args)
    assert a.read_bytes() == b.read_bytes()
    recs = read(a)
    assert len(recs) == 30 and len({instance_key(r["instance"]) for r in recs}) == 30
    for r in recs:
        assert tuple(r) == RECORD_KEYS and r["task"] == "division" and r["split"] == "M"
        assert 6 <= r["length"] <= 10
        assert r["completion"].startswith("shift the decimal points: ")  # the tail variant
        assert score("division", r["completion"], r["answer"])
    other = generate(tmp_path, "c.jsonl", *args[:-3], "6", "--variant", "tail")
    assert other.read_bytes() != a.read_bytes()


def test_generate_template_and_lengths_override(tmp_path):
    out = generate(tmp_path, "t.jsonl", "--task", "bubble_sort", "--split", "S", "--n", "20",
                   "--seed", "1", "--lengths", "9,10", "--template", "3", "--variant", "direct")
    for r in read(out):
        assert r["length"] in (9, 10) and len(r["instance"]["numbers"]) == r["length"]
        assert r["prompt"] == ("Sort ascending: " + ", ".join(map(str, r["instance"]["numbers"]))
                               + "\nAnswer with the numbers in ascending order, comma-separated.")
        assert r["completion"] == "\\boxed{" + r["answer"] + "}"


def test_mix_draws_splits_by_weight(tmp_path):
    args = ["--task", "compare", "--mix", "S=0.8,M=0.1,L=0.1", "--n", "50", "--seed", "3"]
    a, b = generate(tmp_path, "a.jsonl", *args), generate(tmp_path, "b.jsonl", *args)
    assert a.read_bytes() == b.read_bytes()
    recs = read(a)
    counts = {s: sum(r["split"] == s for r in recs) for s in "SML"}
    assert counts == {"S": 40, "M": 5, "L": 5}
    for r in recs:
        lo, hi = TASKS["compare"].ranges[r["split"]]
        assert lo <= r["length"] <= hi
    assert [r["split"] for r in recs] != sorted(r["split"] for r in recs)  # interleaved
    assert records.split_counts({"S": 0.8, "M": 0.1, "L": 0.1}, 7) == {"S": 5, "M": 1, "L": 1}


def test_a_tiny_instance_space_keeps_half_for_training():
    # derangement S (n = 3..30) has 28 instances: the test set takes the first half, training
    # draws from the rest, and the two stay disjoint.
    test = {canonical_key("derangement", r["instance"])
            for r in records.test_set("derangement", "S", 500, "direct")}
    assert test == records.test_keys("derangement", "S") and len(test) == 14
    train = {instance_key(r["instance"]) for r in records.generate("derangement", "S", 14, 1,
                                                                   "direct")}
    assert len(train) == 14 and not train & test
    with pytest.raises(ValueError, match="only 14 distinct derangement instances"):
        records.generate("derangement", "S", 15, 1, "direct")


def test_the_test_seed_gives_the_test_set_and_nothing_beyond_it(tmp_path, capsys):
    assert [records.test_size("derangement", s) for s in "SML"] == [14, 15, 20]
    assert records.test_size("addition", "L") == records.TEST_SIZE
    lines = {ln.split()[0]: ln for ln in run_cli("list").stdout.splitlines()}
    assert "test sets 14/15/20" in lines["derangement"]
    assert "test sets 500/500/500" in lines["addition"]
    assert "first 500 distinct instances of seed 20250717" in lines["test"]
    # All 28 S instances once came out, the 14 kept for training among them.
    common = ["--task", "derangement", "--variant", "direct", "--seed", str(records.TEST_SEED)]
    capsys.readouterr()
    assert main(["generate", *common, "--split", "S", "--n", "28", "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "test set of derangement S holds 14 instances" in err
    assert main(["generate", *common, "--mix", "S=1,M=1", "--n", "40", "--out", "-"]) == 2
    out = generate(tmp_path, "test.jsonl", *common, "--split", "S", "--n", "14")
    assert read(out) == records.test_set("derangement", "S", 500, "direct")


def test_training_files_exclude_the_test_set(tmp_path):
    # bubble sort of 2 numbers out of 0..99 has only 9900 instances: 1000 draws would meet
    # about 50 of the 500 test instances if nothing excluded them.
    common = ["--task", "bubble_sort", "--split", "S", "--lengths", "2,2", "--variant", "direct"]
    train = generate(tmp_path, "train.jsonl", *common, "--n", "1000", "--seed", "1")
    test = generate(tmp_path, "test.jsonl", *common, "--n", "500", "--seed",
                    str(records.TEST_SEED))
    test_keys = records.test_keys("bubble_sort", "S", (2, 2))
    assert {canonical_key("bubble_sort", r["instance"]) for r in read(test)} == test_keys
    assert len({instance_key(r["instance"]) for r in read(train)}) == 1000
    train_keys = {canonical_key("bubble_sort", r["instance"]) for r in read(train)}
    assert not train_keys & test_keys
    raw = {canonical_key("bubble_sort", sample_instance("bubble_sort", "S", 1, i, (2, 2)))
           for i in range(1000)}
    assert raw & test_keys, "vacuous check: the raw stream never meets the test set"
    # the test set is what test_set() gives, record for record
    assert test.read_text() == "".join(records.dumps(r) + "\n" for r in
                                       records.test_set("bubble_sort", "S", 500, "direct", (2, 2)))

    ok = run_cli("verify", str(train), str(test))
    assert ok.returncode == 0 and "share no instance" in ok.stdout
    bad = run_cli("verify", str(train), str(train))
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "share 1000" in bad.stderr


def test_tiny_instance_space_is_an_error_not_a_short_file(tmp_path, capsys):
    # word flip with one letter has 4 instances: each split's test set holds two of them (with
    # the override range every split draws from the same 4), leaving training what none holds
    out = tmp_path / "w.jsonl"
    args = ["generate", "--task", "word_flip", "--split", "S", "--lengths", "1,1",
            "--out", str(out)]
    assert main(args + ["--n", "3", "--seed", "1"]) == 2
    assert "only 1 distinct word_flip instances outside the test sets" in capsys.readouterr().err
    assert main(args + ["--n", "1", "--seed", "1"]) == 0 and len(read(out)) == 1
    out.unlink()
    # the test seed gives the test set (two of the four) and nothing beyond it
    assert main(args + ["--n", "3", "--seed", str(records.TEST_SEED)]) == 2
    assert "test set of word_flip S holds 2 instances" in capsys.readouterr().err
    assert not out.exists()
    assert main(args + ["--n", "2", "--seed", str(records.TEST_SEED)]) == 0
    assert read(out) == records.test_set("word_flip", "S", 500, "tail-styled", (1, 1))


def test_stats_counts_chars_and_tokens(tmp_path, capsys):
    a = generate(tmp_path, "a.jsonl", "--task", "word_flip", "--mix", "S=1,M=1", "--n", "12",
                 "--seed", "2", "--variant", "tail")
    b = generate(tmp_path, "b.jsonl", "--task", "binary_search", "--split", "L", "--n", "5",
                 "--seed", "2")
    capsys.readouterr()
    assert main(["stats", str(a), str(b)]) == 0
    rows = {tuple(ln.split()[:2]): ln.split()[2:] for ln in capsys.readouterr().out.splitlines()}
    recs = read(a) + read(b)
    for task, split in (("word_flip", "S"), ("word_flip", "M"), ("binary_search", "L")):
        group = [r for r in recs if r["task"] == task and r["split"] == split]
        count, chars_mean, chars_max, tok_mean, tok_max = rows[task, split][:5]
        chars = [len(r["completion"]) for r in group]
        tokens = [len(r["prompt"]) + len(r["completion"]) for r in group]  # one char, one token
        assert int(count) == len(group)
        assert float(chars_mean) == pytest.approx(sum(chars) / len(group), abs=0.05)
        assert int(chars_max) == max(chars) and int(tok_max) == max(tokens)
        assert float(tok_mean) == pytest.approx(sum(tokens) / len(group), abs=0.05)


def test_stats_of_the_test_sets_give_shares_over_4096_8192_32768_and_the_auto_budget(capsys):
    from tailjax.budgets import auto_budget

    assert main(["stats", "--test-sets", "--n", "3", "--variant", "tail"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-5:] == [">4096", ">8192", ">32768", "auto", "budget"]
    rows = {tuple(ln.split()[:2]): ln.split()[2:] for ln in lines[2:-1]}
    assert len(rows) == 3 * len(TASKS)
    for task in TASKS:
        for split in ("S", "M", "L"):
            recs = records.test_set(task, split, 3, "tail")
            tokens = [len(r["prompt"]) + len(r["completion"]) for r in recs]  # char tokenizer
            *_, over4k, over8k, over32k, budget = rows[task, split]
            for cell, limit in ((over4k, 4096), (over8k, 8192), (over32k, 32768)):
                share = sum(t > limit for t in tokens) / len(tokens)
                assert cell == f"{100 * share:.1f}%", (task, split, limit)
            longest = max(len(r["completion"]) for r in recs)
            assert int(budget) == auto_budget(longest + 1) > longest, (task, split)


def test_stats_markdown_and_its_input_errors(tmp_path, capsys):
    a = generate(tmp_path, "a.jsonl", "--task", "compare", "--split", "M", "--n", "4",
                 "--seed", "2")
    capsys.readouterr()
    assert main(["stats", str(a), "--markdown"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("| task | split | n | tokens mean | tokens max | > 4096 | > 8192 | "
                      "> 32768 | auto budget |")
    assert out[2].startswith("| compare | M | 4 | ")
    for argv, message in ((["stats"], "give record files or --test-sets"),
                          (["stats", str(a), "--test-sets"], "give record files or --test-sets"),
                          (["stats", "--test-sets", "--n", "0"], "--n must be positive")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err


def test_stats_with_an_hf_tokenizer_dir(tmp_path, capsys):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    recs_path = generate(tmp_path, "a.jsonl", "--task", "compare", "--split", "S", "--n", "8",
                         "--seed", "4")
    recs = read(recs_path)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator([r["prompt"] + r["completion"] for r in recs],
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<end>"]))
    tok_dir = tmp_path / "tok"
    PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<end>").save_pretrained(tok_dir)
    capsys.readouterr()
    assert main(["stats", str(recs_path), "--tokenizer", str(tok_dir)]) == 0
    row = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.startswith("compare")]
    hf = load_tokenizer(str(tok_dir))
    tokens = [len(hf.encode(r["prompt"])) + len(hf.encode(r["completion"])) for r in recs]
    assert int(row[0][6]) == max(tokens) < max(len(r["prompt"] + r["completion"]) for r in recs)


@pytest.mark.parametrize("args, message", [
    (["--task", "nope", "--split", "S", "--n", "3"], "unknown task 'nope'"),
    (["--task", "addition", "--split", "S", "--n", "3", "--variant", "fancy"],
     "unknown variant 'fancy'"),
    (["--task", "compare", "--split", "XL", "--n", "3"], "unknown split 'XL'"),
    (["--task", "compare", "--split", "S", "--n", "0"], "--n must be positive"),
    (["--task", "compare", "--split", "S", "--n", "-4"], "--n must be positive"),
    (["--task", "compare", "--split", "S", "--n", "3", "--out", "/no/such/dir/x.jsonl"],
     "folder /no/such/dir does not exist"),
    (["--task", "compare", "--split", "S", "--n", "3", "--out", "."], "is a directory"),
    (["--task", "compare", "--mix", "S=1,Q=2", "--n", "3"], "unknown split 'Q'"),
    (["--task", "compare", "--mix", "S", "--n", "3"], "bad --mix item 'S'"),
    (["--task", "compare", "--split", "S", "--mix", "S=1", "--n", "3"], "exactly one of"),
    (["--task", "compare", "--split", "S", "--n", "3", "--lengths", "5"], "bad --lengths"),
    (["--task", "compare", "--split", "S", "--n", "3", "--template", "99"],
     "template 99 out of range"),
    (["--task", "compare", "--split", "S", "--n", "three"], "invalid int value"),
])
def test_bad_input_is_one_error_line(tmp_path, args, message):
    if "--out" not in args:
        args = args + ["--out", str(tmp_path / "x.jsonl")]
    res = run_cli("generate", "--seed", "1", *args)
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert message in res.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_unreadable_or_malformed_files(tmp_path, capsys):
    good = generate(tmp_path, "good.jsonl", "--task", "compare", "--split", "S", "--n", "2",
                    "--seed", "1")
    capsys.readouterr()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task": "compare"\n')
    assert main(["stats", str(bad)]) == 2
    assert main(["verify", str(good), str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {bad}:1: not a JSON line")
    assert err[1].startswith("error: cannot read ") and len(err) == 2


def test_a_test_set_with_one_template_keeps_its_instances():
    # a model trained on data.template K is tested on the same instances, all prompted with K
    mixed = records.test_set("addition", "S", 40, "tail", (1, 3))
    fixed = records.test_set("addition", "S", 40, "tail", (1, 3), template=0)
    assert [r["instance"] for r in fixed] == [r["instance"] for r in mixed]
    first = TASKS["addition"].templates[0]
    assert all(r["prompt"] == first.format(**TASKS["addition"].fields(r["instance"]))
               for r in fixed)
    assert len({r["prompt"].split(" ")[0] for r in mixed}) > 1, "vacuous: one template drawn"


# One symmetry of each task that folds one: the instance changed without changing its answer.
SYMMETRIES = {
    "addition": lambda i: {**i, "x1": i["x2"], "x2": i["x1"]},
    "compare": lambda i: {**i, "x1": i["x2"], "x2": i["x1"]},
    "bubble_sort": lambda i: {"numbers": i["numbers"][::-1]},
    "levenshtein": lambda i: {"a": i["b"], "b": i["a"]},
    "lcs": lambda i: {"a": i["b"], "b": i["a"]},
    "knapsack": lambda i: {**i, "weights": i["weights"][::-1], "values": i["values"][::-1]},
    "machine_schedule": lambda i: {**i, "tasks": i["tasks"][::-1]},
    "count_letters": lambda i: {**i, "words": i["words"][::-1]},
    "dijkstra": lambda i: {**i, "edges": [[v, u, w] for u, v, w in i["edges"][::-1]]},
    "palindrome_partition": lambda i: {"s": i["s"][::-1]},
}


@pytest.mark.parametrize("task", sorted(SYMMETRIES))
def test_training_never_holds_a_test_instance_up_to_a_symmetry(task):
    t = get_task(task)
    test = {instance_key(sample_instance(task, "S", records.TEST_SEED, i))
            for i in records._test_indices(task, "S", None)}
    met = 0
    for split, i in records.plan(task, {"S": 1.0}, 1000, seed=1):
        instance = sample_instance(task, split, 1, i)
        other = SYMMETRIES[task](instance)
        assert canonical_key(task, other) == canonical_key(task, instance)
        if met < 3:  # the symmetry keeps the answer (solving is slow, so only a few)
            assert t.solve(other).answer == t.solve(instance).answer
            met += 1
        assert instance_key(other) not in test, (instance, other)


def test_every_task_docstring_says_which_symmetries_it_folds():
    import collections
    import importlib

    modules = collections.Counter(t.solve.__module__ for t in TASKS.values())
    for module, n_tasks in modules.items():
        doc = importlib.import_module(module).__doc__
        assert doc.count("Symmetry folded:") == n_tasks, module
