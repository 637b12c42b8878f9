"""The TAIL trace writer.

A task's solver records its execution once, as a flat list of atomic states; `render` turns that
one recording into the text of every variant, so the variants can never drift apart.

Each recorded `State` holds the three TAIL modules separately:

- Memory Fetcher: `fetch`, every operand the step reads, restated as (label, value) pairs;
- Atomic State:   `compute`, the one elementary computation (a short symbolic string such as
                  "7 + 5 + 1 = 13"), and `write`, the values it produces as (label, value) pairs;
- Linear Transition: `name` (this state's label) and `goto` (the label of the next state), in a
                  sequence where every step is written out and none is skipped. A solver that
                  only learns the next state when it gets there (a call's next state is the
                  callee's entry, a base case's is whichever caller resumes, a loop may exit on
                  the data) omits `goto`: the state then goes to the state recorded next.

`loop` names the loop a state is one iteration of (None for straight-line states); the no-atomic
and no-linear ablations use it.

`lines(trace, variant)` is the rendering in parts: each line of the completion as its parts (the
state's name, each fetched and written pair, the computation, the transition) and the states it
renders; `render` joins their texts, so a line's parts always spell the line.

Variants, each defined against `tail` so that it differs from `tail` only in the module it removes:

- tail         terse symbolic states: `name: fetch ; compute ; write ; -> goto`, one per line.
- tail-styled  the same states in cohesive natural language ("Now we ...", "We have ...",
               "Since ..., then ...", "Next, we ..."); the paper's main setting.
- no-fetch     `tail` with every fetch section removed (operands are not restated).
- no-atomic    `tail` with every run of consecutive states of one loop merged into coarse states of
               `NO_ATOMIC_CHUNK` iterations: a coarse state fetches the operands its iterations
               read that no earlier iteration of it wrote, writes only the last value of each
               label written, and drops the per-iteration computations and intermediate values.
- no-linear    `tail` with the linear transitions removed: no state labels and no `-> goto`
               control statements, and each loop written as one nested block (a header naming the
               loop, its iterations indented beneath it) instead of a flat chain of states.
- direct       the answer only.
- plain-cot    a short natural-language explanation with the key intermediate results the solver
               chose (`Trace.note`), not unrolled.

Every completion ends with `\\boxed{answer}`, but one: a trace whose answer is the tape its states
wrote (`Trace.tape`, e.g. addition's sum tape `s` in the tagged notation) ends its terse variants
(tail and the three ablations, which all keep the writes) with `\\boxed{NAME}`, the tape's name,
and the scorer reads the answer off that tape (`scoring.answer_text`). The other variants box the
answer itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

VARIANTS = ("tail", "tail-styled", "no-fetch", "no-atomic", "no-linear", "direct", "plain-cot")
TERSE_VARIANTS = ("tail", "no-fetch", "no-atomic", "no-linear")
NO_ATOMIC_CHUNK = 3
END_STATE = "END"

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class State:
    name: str
    fetch: Pairs
    compute: str
    write: Pairs
    goto: str
    loop: str | None = None


@dataclass
class Trace:
    """What a solver records: the states, the plain-CoT notes, and the final answer.

    `tape` names the label whose cells the states write the answer into ("s" for the writes
    `s[K]=7`), when the answer is that tape rather than a final copy of it; None otherwise.
    """

    states: list[State] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    answer: str | None = None
    tape: str | None = None
    # Whether the last state was recorded without a goto: the next state recorded names it.
    _linked: bool = field(default=False, init=False, repr=False, compare=False)

    def state(self, name, *, fetch=(), compute="", write=(), goto=None, loop=None):
        """Record one atomic state. `fetch` and `write` are dicts or (label, value) pairs.
        `goto` names the next state; without it the state goes to the state recorded next, or
        to END when it stays the last."""
        name = str(name)
        if self._linked:
            self.states[-1] = replace(self.states[-1], goto=name)
        self.states.append(State(name, _pairs(fetch), str(compute), _pairs(write),
                                 END_STATE if goto is None else str(goto), loop))
        self._linked = goto is None

    def note(self, sentence: str):
        """A key intermediate result, for the plain-cot baseline."""
        self.notes.append(sentence)

    def finish(self, answer, tape: str | None = None) -> "Trace":
        """Set the answer (and the tape that holds it, see `tape`); ValueError when the last
        state does not go to END."""
        self.answer = str(answer)
        self.tape = tape
        if self.states and self.states[-1].goto != END_STATE:
            raise ValueError(
                f"trace ends in state {self.states[-1].name!r} whose transition goes to "
                f"{self.states[-1].goto!r}; the last state must go to {END_STATE!r}"
            )
        return self


def _pairs(items) -> Pairs:
    items = items.items() if isinstance(items, dict) else items
    return tuple((str(k), str(v)) for k, v in items)


def boxed(answer: str) -> str:
    return "\\boxed{" + answer + "}"


# --- the lines of a completion, in parts -------------------------------------------------------

# What a part of a rendered line is: a state's label, one fetched or written pair, its
# computation, its transition, a loop header, a plain-cot note, the final answer, or fixed
# wording between them ("sep").
PART_KINDS = ("name", "fetch", "compute", "write", "goto", "loop", "note", "answer", "sep")


@dataclass(frozen=True)
class Line:
    """One line of a rendered completion.

    parts: (kind, label, text) triples, kind one of PART_KINDS, label the pair's label for a
        fetch or write part ("x1", "carry") and "" otherwise; the texts joined are the line.
    states: the indices into `Trace.states` of the states the line renders (one for tail, its
        styled form, no-fetch and no-linear; the merged iterations of a no-atomic coarse state;
        none for a loop header, a note or the answer line).
    """

    parts: tuple[tuple[str, str, str], ...]
    states: tuple[int, ...] = ()

    @property
    def text(self) -> str:
        return "".join(text for _, _, text in self.parts)


def _sep(text: str) -> tuple[str, str, str]:
    return ("sep", "", text)


def _pair_parts(kind: str, pairs: Pairs, eq: str) -> list[tuple[str, str, str]]:
    """`k=v, k=v` (eq "=") or `k = v, k = v` (eq " = ") as one part per pair."""
    out: list[tuple[str, str, str]] = []
    for i, (k, v) in enumerate(pairs):
        if i:
            out.append(_sep(", "))
        out.append((kind, k, f"{k}{eq}{v}"))
    return out


def _joined(sections: list[list[tuple[str, str, str]]], sep: str) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for i, section in enumerate(sections):
        if i:
            out.append(_sep(sep))
        out += section
    return out


# --- the terse form (tail and its ablations) -----------------------------------------------


def _terse_body(s: State, fetch: bool) -> list[tuple[str, str, str]]:
    sections = []
    if fetch and s.fetch:
        sections.append(_pair_parts("fetch", s.fetch, "="))
    if s.compute:
        sections.append([("compute", "", s.compute)])
    if s.write:
        sections.append(_pair_parts("write", s.write, "="))
    return _joined(sections, " ; ")


def _terse_line(s: State, fetch: bool = True) -> list[tuple[str, str, str]]:
    return [("name", "", s.name), _sep(": "), *_terse_body(s, fetch), _sep(" ; -> "),
            ("goto", "", s.goto)]


def _runs(states: list[State]):
    """Split the state indices into maximal runs of consecutive states sharing one loop (None:
    alone)."""
    run: list[int] = []
    for i, s in enumerate(states):
        if run and (s.loop is None or s.loop != states[run[-1]].loop):
            yield run
            run = []
        run.append(i)
        if s.loop is None:
            yield run
            run = []
    if run:
        yield run


def _coarse(chunk: list[State]) -> State:
    """Merge consecutive iterations into one coarse state (the no-atomic ablation)."""
    written: dict[str, str] = {}
    fetched: list[tuple[str, str]] = []
    for s in chunk:
        fetched += [(k, v) for k, v in s.fetch if k not in written and (k, v) not in fetched]
        written.update(s.write)
    name = chunk[0].name if len(chunk) == 1 else f"{chunk[0].name} .. {chunk[-1].name}"
    compute = chunk[0].compute if len(chunk) == 1 else ""
    return State(name, tuple(fetched), compute, tuple(written.items()), chunk[-1].goto,
                 chunk[0].loop)


def _lines_no_atomic(trace: Trace) -> list[Line]:
    lines = []
    for run in _runs(trace.states):
        for i in range(0, len(run), NO_ATOMIC_CHUNK):
            chunk = tuple(run[i:i + NO_ATOMIC_CHUNK])
            coarse = _coarse([trace.states[j] for j in chunk])
            lines.append(Line(tuple(_terse_line(coarse)), chunk))
    return lines


def _lines_no_linear(trace: Trace) -> list[Line]:
    lines = []
    for run in _runs(trace.states):
        loop = trace.states[run[0]].loop
        if loop is not None:
            lines.append(Line((("loop", "", f"for each {loop}:"),)))
        indent = [_sep("  ")] if loop is not None else []
        lines += [Line(tuple(indent + _terse_body(trace.states[j], True)), (j,)) for j in run]
    return lines


# --- the styled form --------------------------------------------------------------------------


def _styled_line(s: State) -> list[tuple[str, str, str]]:
    out = [_sep("Now we "), ("name", "", s.name), _sep(".")]
    if s.fetch:
        out += [_sep(" We have "), *_pair_parts("fetch", s.fetch, " = "), _sep(".")]
    if s.compute and s.write:
        out += [_sep(" Since "), ("compute", "", s.compute), _sep(", then "),
                *_pair_parts("write", s.write, " = "), _sep(".")]
    elif s.compute:  # a test whose outcome is the transition: "We find that 3 = 3."
        out += [_sep(" We find that "), ("compute", "", s.compute), _sep(".")]
    elif s.write:
        out += [_sep(" Then "), *_pair_parts("write", s.write, " = "), _sep(".")]
    if s.goto == END_STATE:
        out += [_sep(" Next, we "), ("goto", "", "stop"), _sep(".")]
    else:
        out += [_sep(" Next, we "), ("goto", "", s.goto), _sep(".")]
    return out


def lines(trace: Trace, variant: str) -> list[Line]:
    """The lines of `render(trace, variant)`, each in its parts and with the states it renders
    (what tells where a model's trace first leaves the reference: tailjax.study.divergence).
    ValueError for an unknown variant or an unfinished trace."""
    if trace.answer is None:
        raise ValueError("the trace has no answer; call Trace.finish(answer) in the solver")
    states = trace.states
    if variant in ("tail", "no-fetch"):
        out = [Line(tuple(_terse_line(s, variant == "tail")), (i,)) for i, s in enumerate(states)]
    elif variant == "tail-styled":
        out = [Line(tuple(_styled_line(s)), (i,)) for i, s in enumerate(states)]
    elif variant == "no-atomic":
        out = _lines_no_atomic(trace)
    elif variant == "no-linear":
        out = _lines_no_linear(trace)
    elif variant == "direct":
        return [Line((("answer", "", boxed(trace.answer)),))]
    elif variant == "plain-cot":
        out = [Line((("note", "", note),)) for note in trace.notes]
    else:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if variant in TERSE_VARIANTS:
        out.append(Line((("answer", "", "answer: " + boxed(trace.tape or trace.answer)),)))
    else:
        out.append(Line((("answer", "", "So the final answer is " + boxed(trace.answer)),)))
    return out


def render(trace: Trace, variant: str) -> str:
    """The completion text of `trace` in `variant`, ending with the boxed answer (the boxed tape
    name in the terse variants of a trace with a `tape`): the texts of `lines(trace, variant)`,
    one a line. ValueError for an unknown variant or an unfinished trace."""
    return "\n".join(line.text for line in lines(trace, variant))
