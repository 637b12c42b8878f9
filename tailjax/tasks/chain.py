"""Recording a flattened execution whose every transition goes to the state recorded next.

Recursive and backtracking solvers (and loops whose exit depends on data) only learn the name of
the next state when they get there: a call's next state is the callee's entry, a base case's next
state is whichever caller resumes. `Chain` holds each state back until the next one is recorded
and then links them, so the solver never has to predict its own control flow.
"""

from __future__ import annotations

from tailjax.tasks.trace import END_STATE, Trace


class Chain:
    """Like `Trace.state`, minus `goto`: each state's transition is the next recorded state."""

    def __init__(self):
        self.trace = Trace()
        self._held: tuple[str, dict] | None = None

    def state(self, name, *, fetch=(), compute="", write=(), loop=None):
        self._release(str(name))
        self._held = (str(name), dict(fetch=fetch, compute=compute, write=write, loop=loop))

    def note(self, sentence: str):
        self.trace.note(sentence)

    def finish(self, answer) -> Trace:
        self._release(END_STATE)
        return self.trace.finish(answer)

    def _release(self, goto: str):
        if self._held is not None:
            name, kw = self._held
            self.trace.state(name, goto=goto, **kw)
            self._held = None
