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


# --- the terse form (tail and its ablations) -----------------------------------------------


def _kv(pairs: Pairs) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs)


def _terse_body(s: State, fetch: bool) -> str:
    parts = []
    if fetch and s.fetch:
        parts.append(_kv(s.fetch))
    if s.compute:
        parts.append(s.compute)
    if s.write:
        parts.append(_kv(s.write))
    return " ; ".join(parts)


def _terse_line(s: State, fetch: bool = True) -> str:
    return f"{s.name}: {_terse_body(s, fetch)} ; -> {s.goto}"


def _runs(states: list[State]):
    """Split the states into maximal runs of consecutive states sharing one loop (None: alone)."""
    run: list[State] = []
    for s in states:
        if run and (s.loop is None or s.loop != run[-1].loop):
            yield run
            run = []
        run.append(s)
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


def _render_tail(trace: Trace, fetch: bool = True) -> list[str]:
    return [_terse_line(s, fetch) for s in trace.states]


def _render_no_atomic(trace: Trace) -> list[str]:
    lines = []
    for run in _runs(trace.states):
        for i in range(0, len(run), NO_ATOMIC_CHUNK):
            lines.append(_terse_line(_coarse(run[i:i + NO_ATOMIC_CHUNK])))
    return lines


def _render_no_linear(trace: Trace) -> list[str]:
    lines = []
    for run in _runs(trace.states):
        if run[0].loop is None:
            lines.extend(_terse_body(s, True) for s in run)
        else:
            lines.append(f"for each {run[0].loop}:")
            lines.extend("  " + _terse_body(s, True) for s in run)
    return lines


# --- the styled form --------------------------------------------------------------------------


def _say(pairs: Pairs) -> str:
    return ", ".join(f"{k} = {v}" for k, v in pairs)


def _styled_line(s: State) -> str:
    out = [f"Now we {s.name}."]
    if s.fetch:
        out.append(f"We have {_say(s.fetch)}.")
    if s.compute and s.write:
        out.append(f"Since {s.compute}, then {_say(s.write)}.")
    elif s.compute:  # a test whose outcome is the transition: "We find that 3 = 3."
        out.append(f"We find that {s.compute}.")
    elif s.write:
        out.append(f"Then {_say(s.write)}.")
    out.append("Next, we stop." if s.goto == END_STATE else f"Next, we {s.goto}.")
    return " ".join(out)


def render(trace: Trace, variant: str) -> str:
    """The completion text of `trace` in `variant`, ending with the boxed answer (the boxed tape
    name in the terse variants of a trace with a `tape`). ValueError for an unknown variant or
    an unfinished trace."""
    if trace.answer is None:
        raise ValueError("the trace has no answer; call Trace.finish(answer) in the solver")
    if variant == "tail":
        lines = _render_tail(trace)
    elif variant == "tail-styled":
        lines = [_styled_line(s) for s in trace.states]
    elif variant == "no-fetch":
        lines = _render_tail(trace, fetch=False)
    elif variant == "no-atomic":
        lines = _render_no_atomic(trace)
    elif variant == "no-linear":
        lines = _render_no_linear(trace)
    elif variant == "direct":
        return boxed(trace.answer)
    elif variant == "plain-cot":
        lines = list(trace.notes)
    else:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if variant in TERSE_VARIANTS:
        lines.append("answer: " + boxed(trace.tape or trace.answer))
    else:
        lines.append("So the final answer is " + boxed(trace.answer))
    return "\n".join(lines)
