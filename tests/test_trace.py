"""The trace writer: one recording rendered as every variant, each ablation removing one module."""

import pytest

from tailjax.tasks import Trace, render
from tailjax.tasks.trace import VARIANTS


def running_sum(xs):
    """A small solver: a straight-line start, a loop of len(xs) iterations, a straight-line end."""
    tr = Trace()
    tr.state("start", fetch={"n": len(xs)}, compute="", write={"total": 0}, goto="add x[0]")
    total = 0
    for i, x in enumerate(xs):
        nxt = f"add x[{i + 1}]" if i + 1 < len(xs) else "report"
        tr.state(f"add x[{i}]", fetch={f"x[{i}]": x, "total": total},
                 compute=f"{total} + {x} = {total + x}", write={"total": total + x}, goto=nxt,
                 loop="element")
        total += x
    tr.state("report", fetch={"total": total}, write={"answer": total})
    tr.note(f"We add the {len(xs)} numbers one by one.")
    tr.note(f"The total is {total}.")
    return tr.finish(total)


def test_tail_is_one_terse_line_per_state():
    assert render(running_sum([4, 5]), "tail") == (
        "start: n=2 ; total=0 ; -> add x[0]\n"
        "add x[0]: x[0]=4, total=0 ; 0 + 4 = 4 ; total=4 ; -> add x[1]\n"
        "add x[1]: x[1]=5, total=4 ; 4 + 5 = 9 ; total=9 ; -> report\n"
        "report: total=9 ; answer=9 ; -> END\n"
        "answer: \\boxed{9}")


def test_styled_is_natural_language_over_the_same_states():
    assert render(running_sum([4, 5]), "tail-styled") == (
        "Now we start. We have n = 2. Then total = 0. Next, we add x[0].\n"
        "Now we add x[0]. We have x[0] = 4, total = 0. Since 0 + 4 = 4, then total = 4. "
        "Next, we add x[1].\n"
        "Now we add x[1]. We have x[1] = 5, total = 4. Since 4 + 5 = 9, then total = 9. "
        "Next, we report.\n"
        "Now we report. We have total = 9. Then answer = 9. Next, we stop.\n"
        "So the final answer is \\boxed{9}")


def test_no_fetch_drops_only_the_operands():
    assert render(running_sum([4, 5]), "no-fetch") == (
        "start: total=0 ; -> add x[0]\n"
        "add x[0]: 0 + 4 = 4 ; total=4 ; -> add x[1]\n"
        "add x[1]: 4 + 5 = 9 ; total=9 ; -> report\n"
        "report: answer=9 ; -> END\n"
        "answer: \\boxed{9}")


def test_no_atomic_merges_loop_iterations_and_drops_intermediates():
    text = render(running_sum([1, 2, 3, 4]), "no-atomic")
    assert text == (
        "start: n=4 ; total=0 ; -> add x[0]\n"
        # x[0..2] merged: fetches what no earlier iteration wrote, keeps the last total only
        "add x[0] .. add x[2]: x[0]=1, total=0, x[1]=2, x[2]=3 ; total=6 ; -> add x[3]\n"
        "add x[3]: x[3]=4, total=6 ; 6 + 4 = 10 ; total=10 ; -> report\n"
        "report: total=10 ; answer=10 ; -> END\n"
        "answer: \\boxed{10}")
    for dropped in ("total=1 ", "total=3 ", "0 + 1 = 1", "1 + 2 = 3", "3 + 3 = 6"):
        assert dropped not in text


def test_no_linear_nests_the_loop_without_labels_or_transitions():
    assert render(running_sum([4, 5]), "no-linear") == (
        "n=2 ; total=0\n"
        "for each element:\n"
        "  x[0]=4, total=0 ; 0 + 4 = 4 ; total=4\n"
        "  x[1]=5, total=4 ; 4 + 5 = 9 ; total=9\n"
        "total=9 ; answer=9\n"
        "answer: \\boxed{9}")


def test_styled_states_a_test_without_result_as_a_finding():
    tr = Trace()
    tr.state("compare", fetch={"a": 3, "b": 3}, compute="3 = 3")
    assert render(tr.finish(0), "tail-styled").split("\n")[0] == (
        "Now we compare. We have a = 3, b = 3. We find that 3 = 3. Next, we stop.")


def test_baselines():
    tr = running_sum([4, 5, 6])
    assert render(tr, "direct") == "\\boxed{15}"
    assert render(tr, "plain-cot") == ("We add the 3 numbers one by one.\nThe total is 15.\n"
                                       "So the final answer is \\boxed{15}")


def test_loops_of_different_names_are_separate_runs():
    tr = Trace()
    for loop in ("a", "b"):
        for i in range(2):
            tr.state(f"{loop}{i}", fetch={"i": i}, compute=f"{i} + 0 = {i}", write={loop: i},
                     goto="x", loop=loop)
    tr.states[-1] = tr.states[-1].__class__(**{**tr.states[-1].__dict__, "goto": "END"})
    tr.finish(1)
    lines = render(tr, "no-linear").split("\n")
    assert lines[0] == "for each a:" and lines[3] == "for each b:"
    assert render(tr, "no-atomic").split("\n")[:2] == ["a0 .. a1: i=0, i=1 ; a=1 ; -> x",
                                                       "b0 .. b1: i=0, i=1 ; b=1 ; -> END"]


def test_every_variant_ends_with_the_boxed_answer():
    tr = running_sum([7])
    for v in VARIANTS:
        assert render(tr, v).endswith("\\boxed{7}")


def test_a_tape_answer_is_boxed_by_name_where_the_writes_are_kept():
    """A trace whose answer is the tape its states wrote (`finish(answer, tape=...)`): the terse
    variants, which keep every write, box the tape's name; the others box the answer."""
    tr = Trace()
    tr.state("write", fetch={"x": 12}, compute="12 = 12", write={"t[1]": 1, "t[0]": 2})
    tr.finish(12, tape="t")
    for v in VARIANTS:
        boxed = "\\boxed{t}" if v in ("tail", "no-fetch", "no-atomic", "no-linear") else \
            "\\boxed{12}"
        assert render(tr, v).endswith(boxed), v
    assert "t[1]=1, t[0]=2" in render(tr, "no-fetch")
    assert render(running_sum([7]), "tail").endswith("\\boxed{7}")  # no tape: the answer


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unknown variant 'fancy'"):
        render(running_sum([1]), "fancy")
    with pytest.raises(ValueError, match="no answer"):
        render(Trace(), "tail")
    tr = Trace()
    tr.state("a", fetch={"x": 1}, compute="1 + 1 = 2", goto="b")
    with pytest.raises(ValueError, match="must go to 'END'"):
        tr.finish(2)


def test_a_state_without_goto_goes_to_the_state_recorded_next():
    """Recursive solvers learn the next state only when they get there: they leave `goto` out."""
    tr = Trace()
    tr.state("call f(2)", fetch={"n": 2}, compute="2 > 1, f(2) needs f(1)")
    tr.state("call f(1)", fetch={"n": 1}, compute="1 = 1, base case", write={"f(1)": 1})
    assert [s.goto for s in tr.states] == ["call f(1)", "END"]
    tr.state("return to f(2)", fetch={"f(1)": 1}, compute="2 * 1 = 2", write={"f(2)": 2})
    tr.finish(2)
    assert [s.goto for s in tr.states] == ["call f(1)", "return to f(2)", "END"]


def test_an_explicit_goto_is_kept():
    tr = Trace()
    tr.state("a", fetch={"x": 1}, compute="1 = 1", goto="c")
    tr.state("b", fetch={"x": 1}, compute="1 = 1")
    tr.state("c", fetch={"x": 1}, compute="1 = 1")
    assert [s.goto for s in tr.states] == ["c", "c", "END"]
