"""Failure analysis: where a wrong answer's trace first leaves the reference trace.

For a wrong output, the reference is the completion of the same test instance rendered from the
solver's recording (`tasks.trace.lines`: every line in its parts, the name of the state, each
fetched and written pair, the computation, the transition). The first line where the output
differs, and inside it the first character, name the step and the part of it that went wrong:
"fetch x2 wrong at column #9" is the 9th iteration of the loop "column" reading a wrong x2. The
parts come from the `Trace` every task records, so this needs no per-task code; a variant that is
not rendered from the trace (addition's index-hint and reversed) is compared line by line as
answer text. The paper reports only pass@1; this is the breakdown its Figures 3-4 lack.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from tailjax.tasks.trace import VARIANTS, Line, Trace, lines

END = "end"      # the output stops where the reference goes on
EXTRA = "extra"  # the output goes on after the reference ends
_INDEX = re.compile(r"\[[^\]]*\]")  # a label's subscript: s[K] -> s


@dataclass(frozen=True)
class Divergence:
    """The first place an output leaves its reference completion.

    line: index of the first differing line (0-based, in both texts).
    part: the part of the reference line where they first differ: a `trace.PART_KINDS` kind
        ("fetch", "compute", "write", "goto", "name", "loop", "note", "answer"), or END / EXTRA.
    label: the pair's label, subscripts dropped ("x2", "s"), for fetch and write parts; "".
    step: where in the trace: "<loop> #<k>" for the k-th (from 1) iteration of a loop, else the
        state's name; "the answer", "note <k>", "a loop header" or "the end" for lines that
        render no state.
    """

    line: int
    part: str
    label: str
    step: str

    def describe(self) -> str:
        """One phrase a summary counts: "fetch x2 wrong at column #9", "stopped at column #11"."""
        if self.part == END:
            return f"stopped at {self.step}"
        if self.part == EXTRA:
            return "went on after the end"
        if self.part == "answer":
            return "answer wrong"
        if self.part == "note":
            return f"{self.step} wrong"
        what = {"goto": "next state", "name": "state", "loop": "loop header"}.get(self.part,
                                                                                  self.part)
        if self.label:
            what = f"{what} {self.label}"
        return f"{what} wrong at {self.step}"


def reference_lines(trace: Trace, variant: str, completion: str) -> list[Line]:
    """The reference completion as lines in parts: `trace.lines` for a variant rendered from
    the trace, else each line of `completion` as one answer part."""
    if variant in VARIANTS:
        return lines(trace, variant)
    return [Line((("answer", "", text),)) for text in completion.split("\n")]


def first_divergence(output: str, reference: Sequence[Line], trace: Trace | None = None
                     ) -> Divergence | None:
    """Where `output` first differs from the reference lines; None when it equals them.

    trace: the recording the lines render (names the step: a loop iteration or a state);
    without it the step is the line ("line 3").
    """
    out = output.split("\n")
    for i, line in enumerate(reference):
        step = _step(line, i, trace)
        if i >= len(out):
            return Divergence(i, END, "", step)
        if out[i] == line.text:
            continue
        common = len(os.path.commonprefix([out[i], line.text]))
        if common == len(out[i]) and i == len(out) - 1:  # stopped inside the line
            return Divergence(i, END, "", step)
        part, label = _part_at(line, common, out[i])
        return Divergence(i, part, label, step)
    if len(out) > len(reference):
        return Divergence(len(reference), EXTRA, "", "the end")
    return None


def summarize(divergences: Iterable[Divergence | None]) -> Counter:
    """How often each first divergence occurs (`Divergence.describe`); identical outputs (None)
    are not counted."""
    return Counter(d.describe() for d in divergences if d is not None)


def wrong_samples_divergences(samples: Iterable[Mapping], references: Mapping[tuple, tuple],
                              variant: str) -> list[tuple[Mapping, Divergence | None]]:
    """(sample, Divergence) for every wrong sample of an evaluation (eval's samples.jsonl:
    task, split, prompt, output, correct), against `references`: (task, split, prompt) ->
    (reference record, its Trace), e.g. from `eval.traced_test_records`. A sample whose
    instance is not among the references is a KeyError naming it."""
    out = []
    for sample in samples:
        if sample["correct"]:
            continue
        key = (sample["task"], sample["split"], sample["prompt"])
        if key not in references:
            raise KeyError(f"no reference trace for the {sample['task']} {sample['split']} "
                           f"prompt {sample['prompt'][:60]!r}")
        record, trace = references[key]
        ref = reference_lines(trace, variant, record["completion"])
        out.append((sample, first_divergence(sample["output"], ref, trace)))
    return out


def _part_at(line: Line, offset: int, written: str) -> tuple[str, str]:
    """(kind, label) of the part of `line` at character `offset`, where `written` first differs.
    Fixed wording between parts belongs to the part after it, unless the output continued the
    part before it (a longer name or number: the character written there is a letter or digit).
    An offset past the line's end (the output extends it) belongs to the last part."""
    spans, start = [], 0
    for kind, label, text in line.parts:
        spans.append((start, start + len(text), kind, label))
        start += len(text)
    content = [i for i, s in enumerate(spans) if s[2] != "sep"]
    if not content:
        return "answer", ""
    at = next((i for i, (lo, hi, _, _) in enumerate(spans) if lo <= offset < hi), len(spans) - 1)
    if spans[at][2] == "sep":
        before = [i for i in content if i < at]
        after = [i for i in content if i > at]
        extends = (offset == spans[at][0] and offset < len(written)
                   and written[offset].isalnum())
        at = before[-1] if before and (extends or not after) else after[0]
    _, _, kind, label = spans[at]
    return kind, _INDEX.sub("", label)


def _step(line: Line, index: int, trace: Trace | None) -> str:
    """The step a reference line renders: its first state's loop iteration or name."""
    if trace is None or not line.states:
        kinds = {kind for kind, _, _ in line.parts}
        if trace is None:
            return f"line {index + 1}"
        if "loop" in kinds:
            return "a loop header"
        if "note" in kinds:
            return f"note {index + 1}"
        return "the answer"
    first = line.states[0]
    state = trace.states[first]
    if state.loop is None:
        return state.name
    k = first
    while k > 0 and trace.states[k - 1].loop == state.loop:
        k -= 1
    return f"{state.loop} #{first - k + 1}"
