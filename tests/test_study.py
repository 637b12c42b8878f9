"""tailjax.study: grid expansion and cell names, cells skipped when done and resumed when
interrupted (real tiny training runs), the report over hand-made results files, the divergence
finder on traces of two tasks, and the one-line errors of bad input."""

import json
import os
import re

import jax
import pytest

from tailjax import train as train_lib
from tailjax.config import load_config
from tailjax.study import grid
from tailjax.study.__main__ import main
from tailjax.study.divergence import (EXTRA, Divergence, first_divergence, reference_lines,
                                      summarize)
from tailjax.study.run import write_study
from tailjax.tasks import Trace, synthesize_traced
from tailjax.tasks.trace import lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPU_STUDY = os.path.join(ROOT, "configs", "study", "addition-cpu.yaml")


# ---- grid ---------------------------------------------------------------------------------------

def test_grid_runs_in_grid_order_and_names_cells_variant_first_seed_last(tmp_path):
    sets = [f"study.out_dir={tmp_path}",
            "study.grid={seed: [0, 1], variant: [tail, direct], train.lr: [0.001]}",
            "study.variants={direct: {data.max_length: 256}}"]
    cells = grid.expand(load_config(None, sets))
    assert [c.name for c in cells] == ["tail_train.lr=0.001_seed0", "direct_train.lr=0.001_seed0",
                                       "tail_train.lr=0.001_seed1", "direct_train.lr=0.001_seed1"]
    assert cells[1].axes == {"seed": 0, "variant": "direct", "train.lr": 0.001}
    assert cells[1].overrides == ('train.seed=0', 'data.seed=0', 'data.variant="direct"',
                                  'data.max_length=256', 'train.lr=0.001')
    cfg = grid.cell_config(None, sets, cells[3])
    assert (cfg.data.variant, cfg.train.seed, cfg.data.seed, cfg.train.lr,
            cfg.data.max_length) == ("direct", 1, 1, 0.001, 256)
    assert cfg.train.out_dir == str(tmp_path / "cells" / "direct_train.lr=0.001_seed1")
    assert cfg.eval.at_end and cfg.study.grid == {}  # a cell is an ordinary training run
    assert grid.cell_config(None, sets, cells[0]).data.max_length == 512  # only direct's
    assert grid.setting(cells[3].axes) == "direct, train.lr=0.001"
    assert [c.name for c in grid.select(cells, "tail_*,direct_train.lr=0.001_seed1")] == [
        "tail_train.lr=0.001_seed0", "tail_train.lr=0.001_seed1", "direct_train.lr=0.001_seed1"]


def test_the_cpu_study_is_every_variant_over_three_seeds_on_the_demo():
    cfg = load_config(CPU_STUDY)
    demo = load_config(os.path.join(ROOT, "configs", "demo.yaml"))
    cells = grid.expand(cfg)
    variants = ["tail", "tail-untagged", "no-fetch", "no-atomic", "no-linear", "direct",
                "plain-cot", "reversed", "index-hint"]
    assert [c.name for c in cells] == [f"{v}_seed{s}" for s in (0, 1, 2) for v in variants]
    for cell in cells:
        c = grid.cell_config(CPU_STUDY, [], cell)
        untagged = cell.axes["variant"] == "tail-untagged"
        assert sum(o.startswith("data.variant=") for o in cell.overrides) == 1
        assert c.data.variant == ("tail" if untagged else cell.axes["variant"])
        assert c.train.seed == cell.axes["seed"]
        assert c.data.notation == ("plain" if untagged else demo.data.notation)
        # the same model, steps and rows of packed tokens: equal training tokens per cell
        assert (c.model, c.train.steps, c.train.batch_size, c.data.max_length, c.data.pack,
                c.eval) == (demo.model, demo.train.steps, demo.train.batch_size,
                            demo.data.max_length, True, demo.eval)
        assert c.data.resumed == (0.5 if cell.axes["variant"] == "tail" else 0.0)


def test_a_base_config_is_replaced_key_by_key_within_each_section(tmp_path):
    (tmp_path / "base.yaml").write_text(f"base: {ROOT}/configs/demo.yaml\n")  # two levels
    (tmp_path / "study.yaml").write_text(
        "base: base.yaml\ndata: {tasks: {compare: 1.0}, variant: direct, "
        "notation: plain, integer: false, resumed: 0.0}\ntrain: {steps: 7}\n")
    cfg = load_config(str(tmp_path / "study.yaml"))
    assert cfg.data.tasks == {"compare": 1.0}  # the whole mix replaced, not merged
    assert cfg.train.steps == 7 and cfg.train.lr == 3.0e-3 and cfg.model.dtype == "float32"


# ---- bad input ----------------------------------------------------------------------------------

def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_an_unknown_grid_key_is_one_error_line(capsys):
    assert main(["--config", CPU_STUDY, "--dry-run", "--set",
                 "study.grid={seed: [0], train.lrr: [0.1]}"]) == 2
    line = _error_line(capsys)
    assert "unknown grid key 'train.lrr' in study.grid" in line
    assert "use variant, seed or a dotted key of the training config" in line


@pytest.mark.parametrize("value, problem", [("{}", "study.grid is empty"),
                                            ("{seed: [0], variant: []}",
                                             "axis variant of study.grid has no values")])
def test_an_empty_grid_is_one_error_line(capsys, value, problem):
    assert main(["--config", CPU_STUDY, "--dry-run", "--set", f"study.grid={value}"]) == 2
    line = _error_line(capsys)
    assert problem in line and "give every axis at least one value" in line


def test_an_unknown_variant_is_named_before_the_configs_own_checks(capsys):
    # the demo's data.resumed holds for tail only: the variant's own error must come first
    assert main(["--config", CPU_STUDY, "--dry-run", "--set",
                 "study.grid={seed: [0], variant: [tail, nonsense]}"]) == 2
    line = _error_line(capsys)
    assert "cell nonsense_seed0: task addition has no variant 'nonsense'; choose from" in line
    assert capsys.readouterr().out == ""  # no cell listed before the error


def test_a_started_cell_whose_config_changed_is_refused_before_anything_is_written(
        tmp_path, capsys):
    from tailjax.config import to_dict

    sets = [f"study.out_dir={tmp_path}", "study.grid={seed: [0], variant: [direct]}",
            "study.variants={direct: {data.resumed: 0.0}}"]
    cell = grid.expand(load_config(CPU_STUDY, sets))[0]
    then = grid.cell_config(CPU_STUDY, [*sets, "train.lr=0.001"], cell)
    os.makedirs(then.train.out_dir)
    record = {"name": cell.name, "config": to_dict(then), "status": "interrupted", "parts": []}
    open(os.path.join(then.train.out_dir, "cell.json"), "w").write(json.dumps(record))
    args = [a for s in sets for a in ("--set", s)]
    # (--dry-run only: a run here would set this process's XLA_FLAGS for the demo's mesh)
    assert main(["--config", CPU_STUDY, *args, "--dry-run"]) == 2
    line = _error_line(capsys)
    assert "cell direct_seed0 was run with another config (train.lr differs)" in line
    assert "leave it out with --cells" in line
    assert not os.path.exists(tmp_path / "study.json")
    # how a run logs or keeps checkpoints is not what it computes
    args += ["--set", "train.lr=0.001", "--set", "train.log_every=3", "--set", "checkpoint.keep=5"]
    assert main(["--config", CPU_STUDY, *args, "--dry-run"]) == 0
    assert capsys.readouterr().out.split("\t")[:2] == [
        "direct_seed0", "started, no checkpoint yet (starts over)"]


def test_a_report_of_a_directory_without_results_is_one_error_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no study.json" in _error_line(capsys)
    cfg = load_config(CPU_STUDY, [f"study.out_dir={tmp_path}"])
    write_study(str(tmp_path), CPU_STUDY, [], grid.expand(cfg), cfg.study.grid)
    assert main(["report", str(tmp_path)]) == 2
    line = _error_line(capsys)
    assert "no cell of the study" in line and "run `python -m tailjax.study --config" in line


# ---- report over hand-made results --------------------------------------------------------------

def _results(accuracy: dict, by_length: dict) -> dict:
    """A results.json as eval writes it, for one task (addition) and n = 100 per cell."""
    return {"variant": "x", "n": 100, "lengths": {}, "train_lengths": {"S": [2, 6]},
            "tasks": {"addition": {s: {"n": 100, "correct": round(a * 100), "accuracy": a}
                                   for s, a in accuracy.items()}},
            "by_length": {"addition": {str(n): {"n": 50, "correct": round(a * 50),
                                                "accuracy": a} for n, a in by_length.items()}}}


def test_report_gives_mean_and_spread_over_seeds_and_flags_missing_cells(tmp_path, capsys):
    sets = [f"study.out_dir={tmp_path}", "study.grid={seed: [0, 1, 2], variant: [tail, no-fetch]}"]
    cfg = load_config(CPU_STUDY, sets)
    cells = grid.expand(cfg)
    write_study(str(tmp_path), CPU_STUDY, sets, cells, cfg.study.grid)
    hand = {"tail_seed0": (1.0, 0.8, 0.2), "tail_seed1": (1.0, 0.5, 0.05),
            "tail_seed2": (0.7, 0.2, 0.05), "no-fetch_seed0": (0.9, 0.1, 0.0),
            "no-fetch_seed1": (0.8, 0.0, 0.0)}  # no-fetch_seed2 is missing
    for name, (s, m, l) in hand.items():
        eval_dir = tmp_path / "cells" / name / "eval"
        eval_dir.mkdir(parents=True)
        (eval_dir / "results.json").write_text(json.dumps(
            _results({"S": s, "M": m, "L": l}, {6: s, 7: m, 9: l})))
        (tmp_path / "cells" / name / "train_log.jsonl").write_text("".join(
            json.dumps({"step": i, "loss": 1.0, "tokens": 2000, "seconds": 0.5}) + "\n"
            for i in (1, 2, 3)))
    assert main(["report", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    tail, no_fetch = summary["groups"]
    assert tail["setting"] == "tail" and tail["seeds"] == [0, 1, 2]
    m = tail["accuracy"]["M"]
    assert m["mean"] == pytest.approx(50.0) and m["sd"] == pytest.approx(30.0)  # 80, 50, 20
    assert (m["min"], m["max"], m["n"]) == (20.0, 80.0, 3)
    assert tail["by_length"]["addition"]["9"]["mean"] == pytest.approx(10.0)
    s = no_fetch["accuracy"]["S"]
    assert s["mean"] == pytest.approx(85.0) and s["sd"] == pytest.approx(7.0710678)
    assert summary["missing"] == ["no-fetch_seed2"]
    assert no_fetch["evaluated"] == ["no-fetch_seed0", "no-fetch_seed1"]
    cell = next(c for c in summary["cells"] if c["name"] == "tail_seed1")
    assert (cell["steps"], cell["tokens"], cell["step_seconds"]) == (3, 6000, 1.5)
    md = (tmp_path / "results.md").read_text()
    assert "**Missing cells** (no eval/results.json yet): no-fetch_seed2." in md
    tail_row = ("| tail | 3 | 90.0 ± 17.3 (70.0–100.0) | 50.0 ± 30.0 (20.0–80.0) | "
                "10.0 ± 8.7 (5.0–20.0) |")
    no_fetch_row = ("| no-fetch | 2 of 3 (missing) | 85.0 ± 7.1 (80.0–90.0) | "
                    "5.0 ± 7.1 (0.0–10.0) | 0.0 ± 0.0 (0.0–0.0) |")
    table1, table2 = md.split("## Ablations (Table 2 layout)")
    assert tail_row in table1 and no_fetch_row not in table1  # ablations have their own table
    assert tail_row in table2 and no_fetch_row in table2
    assert "| no-fetch_seed2 | not started | 0 | 0 |" in md
    for png in ("accuracy.png", "accuracy_by_length.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


# ---- divergence ---------------------------------------------------------------------------------

def _edit(text: str, line: int, old: str, new: str) -> str:
    rows = text.split("\n")
    assert old in rows[line], rows[line]
    rows[line] = rows[line].replace(old, new, 1)
    return "\n".join(rows)


def test_first_divergence_names_the_step_and_part_in_a_hand_made_trace():
    tr = Trace()
    tr.state("start", fetch={"xs": "3,1,2"}, write={"i": 0}, goto="compare at 0")
    for i, (a, b) in enumerate([(3, 1), (3, 2)]):
        tr.state(f"compare at {i}", fetch=[(f"xs[{i}]", a), (f"xs[{i + 1}]", b)],
                 compute=f"{a} > {b}", write=[(f"xs[{i}]", b), (f"xs[{i + 1}]", a)],
                 goto=f"compare at {i + 1}" if i == 0 else "END", loop="pass")
    tr.finish("1,2,3")
    ref = lines(tr, "tail")
    text = "\n".join(line.text for line in ref)
    assert text.split("\n")[2] == ("compare at 1: xs[1]=3, xs[2]=2 ; 3 > 2 ; xs[1]=2, xs[2]=3 ; "
                                   "-> END")
    assert first_divergence(text, ref, tr) is None
    cases = {
        (2, "xs[2]=2 ;", "xs[2]=5 ;"): "fetch xs wrong at pass #2",
        (2, "3 > 2", "3 < 2"): "compute wrong at pass #2",
        (1, "xs[1]=3 ; ->", "xs[1]=4 ; ->"): "write xs wrong at pass #1",
        (1, "-> compare at 1", "-> compare at 7"): "next state wrong at pass #1",
        (1, "compare at 0:", "compare at 01:"): "state wrong at pass #1",  # a longer name
        (0, "i=0", "i=1"): "write i wrong at start",
        (3, "boxed{1,2,3}", "boxed{1,3,2}"): "answer wrong",
    }
    for (row, old, new), expected in cases.items():
        found = first_divergence(_edit(text, row, old, new), ref, tr)
        assert found.line == row and found.describe() == expected, (old, found)
    assert first_divergence("\n".join(text.split("\n")[:2]), ref, tr).describe() == \
        "stopped at pass #2"
    assert first_divergence(text[:text.index(" ; 3 > 2")], ref, tr).describe() == \
        "stopped at pass #2"  # cut inside the line (a truncated output)
    assert first_divergence(text + "\nmore", ref, tr) == Divergence(4, EXTRA, "", "the end")


def test_first_divergence_works_for_two_real_tasks_and_the_ablations_with_no_task_code():
    # addition in the paper's plain notation: the loop "column" over places 0, 1, ...
    record, tr = synthesize_traced("addition", "S", 3, 0, "tail", (12, 12), 0, "plain", True)
    ref = reference_lines(tr, "tail", record["completion"])
    text = record["completion"]
    assert "\n".join(line.text for line in ref) == text
    row = text.split("\n")[10]  # the 10th column: place 9
    assert row.startswith("add the digits at place 9: x1[9]=")
    x2 = re.search(r"x2\[9\]=(\d)", row).group(1)
    wrong = _edit(text, 10, f"x2[9]={x2}", f"x2[9]={(int(x2) + 1) % 10}")
    assert first_divergence(wrong, ref, tr).describe() == "fetch x2 wrong at column #10"
    # bubble sort: a different task, another loop, the styled form
    record, tr = synthesize_traced("bubble_sort", "S", 3, 0, "tail-styled")
    ref = reference_lines(tr, "tail-styled", record["completion"])
    text = record["completion"]
    assert [s.loop for s in tr.states[:3]] == [None, *["comparison of pass 1"] * 2]
    state = tr.states[2]  # the second comparison of the loop
    wrong = _edit(text, 2, state.compute, state.compute + "0")
    assert first_divergence(wrong, ref, tr).describe() == "compute wrong at comparison of pass 1 #2"
    # no-atomic merges iterations: the step is the first merged one; a variant not rendered
    # from the trace (reversed) compares answer lines
    record, tr = synthesize_traced("addition", "S", 3, 1, "no-atomic", (7, 7), 0, "plain", True)
    ref = reference_lines(tr, "no-atomic", record["completion"])
    assert [line.states for line in ref[1:4]] == [(1, 2, 3), (4, 5, 6), (7,)]
    assert first_divergence(_edit(record["completion"], 2, ": ", ": x9=1, "), ref,
                            tr).describe() == "fetch x1 wrong at column #4"
    record, tr = synthesize_traced("addition", "S", 3, 1, "reversed", (7, 7), 0, "plain", True)
    ref = reference_lines(tr, "reversed", record["completion"])
    first = record["completion"].split("\n")[0]
    wrong = _edit(record["completion"], 0, first, first[::-1])
    assert summarize([first_divergence(wrong, ref, tr), None]) == {"answer wrong": 1}


# ---- cells skipped and resumed: real tiny training runs -----------------------------------------

MICRO = ("model.overrides={hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, "
         "num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8}")


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """Compiled steps shared by the cells' runs."""
    path = str(tmp_path_factory.mktemp("jax_cache"))
    old = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", path)
    yield
    jax.config.update("jax_compilation_cache_dir", old)


def _tiny_study(tmp_path) -> list[str]:
    return [f"study.out_dir={tmp_path / 'study'}", "study.grid={seed: [0, 1]}", MICRO,
            "model.dtype=float32", "model.tokenizer=char", "data.tasks={compare: 1}",
            "data.variant=direct", "data.lengths={S: [1, 2]}", "data.max_length=64",
            "data.per_task=2000", "train.batch_size=8", "train.steps=4", "train.lr=3e-3",
            "train.warmup_steps=1", "checkpoint.every=2", "eval.splits=[S]", "eval.n=8",
            "eval.lengths={S: [1, 2]}", "eval.max_new_tokens=8", "eval.batch_size=8"]


def _log(cell_dir) -> list[dict]:
    return [json.loads(x) for x in open(os.path.join(cell_dir, "train_log.jsonl"))]


def test_done_cells_are_skipped_and_an_interrupted_cell_resumes(tmp_path, capsys):
    sets = _tiny_study(tmp_path)
    args = [a for s in sets for a in ("--set", s)]
    cells = grid.expand(load_config(None, sets))
    seed0 = grid.cell_config(None, sets, cells[0])
    # An interruption after step 2: its checkpoint, no evaluation, no done record.
    partial = load_config(None, [*sets, *cells[0].overrides, f"train.out_dir={seed0.train.out_dir}",
                                 "train.steps=2", "eval.at_end=false"])
    assert train_lib.train(partial, progress=False).status == "done"
    first_two = _log(seed0.train.out_dir)
    capsys.readouterr()
    config = os.path.join(tmp_path, "study.yaml")
    open(config, "w").write("{}\n")
    assert main(["--config", config, *args, "--dry-run"]) == 0
    assert [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines()] == [
        ["seed0", "resumes from step 2"], ["seed1", "new"]]

    assert main(["--config", config, *args, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"resumed from step 2 of {seed0.train.out_dir}" in err
    log = _log(seed0.train.out_dir)
    assert [r["step"] for r in log] == [1, 2, 3, 4] and log[:2] == first_two
    for cell in ("seed0", "seed1"):
        record = json.loads(open(tmp_path / "study" / "cells" / cell / "cell.json").read())
        assert record["status"] == "done" and len(record["parts"]) == 1
        assert os.path.exists(tmp_path / "study" / "cells" / cell / "eval" / "results.json")
    summary = json.loads(open(tmp_path / "study" / "results.json").read())
    assert [c["steps"] for c in summary["cells"]] == [4, 4] and summary["missing"] == []
    assert summary["failures"]["skipped"] == []  # every wrong answer was traced back

    before = open(os.path.join(seed0.train.out_dir, "train_log.jsonl")).read()
    assert main(["--config", config, *args, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "cell seed0: done, skipped" in err and "cell seed1: done, skipped" in err
    assert "resumed" not in err
    assert open(os.path.join(seed0.train.out_dir, "train_log.jsonl")).read() == before
    # a done cell whose config changed is an error, not a silent skip
    for dry in (["--dry-run"], []):
        assert main(["--config", config, *args, "--set", "train.lr=1e-3", *dry]) == 2
        assert "cell seed0 was run with another config (train.lr differs)" in _error_line(capsys)


# ---- the launchers ------------------------------------------------------------------------------

def test_the_launchers_run_the_study_module_on_every_host():
    import shlex
    import subprocess

    tpu = subprocess.run([os.path.join(ROOT, "launch", "tpu_pod.sh"), "--tpu", "pod", "--zone",
                          "z", "--run-dir", "gs://b/s1", "--dry-run", "study", "--config",
                          "configs/study/qwen2.5-7b-table1.yaml"],
                         capture_output=True, text=True, timeout=60)
    assert tpu.returncode == 0, tpu.stderr
    ssh = shlex.split(tpu.stdout.splitlines()[-1][2:])
    assert "--worker=all" in ssh
    remote = shlex.split(ssh[ssh.index("--command") + 1])
    assert remote[remote.index("-m"):] == [
        "-m", "tailjax.distributed", "run", "tailjax.study", "--config",
        "configs/study/qwen2.5-7b-table1.yaml", "--set", "study.out_dir=gs://b/s1"]
    slurm = subprocess.run([os.path.join(ROOT, "launch", "slurm_gpu.sh"), "--nodes", "2",
                            "--dry-run", "study", "--config", CPU_STUDY],
                           capture_output=True, text=True, timeout=60)
    assert slurm.returncode == 0, slurm.stderr
    wrapped = shlex.split(slurm.stdout.splitlines()[-1][2:])
    step = shlex.split(wrapped[wrapped.index("--wrap") + 1])
    assert step[:2] == ["srun", "--nodes=2"]
    assert step[-6:] == ["-m", "tailjax.distributed", "run", "tailjax.study", "--config",
                         CPU_STUDY]
