"""Simulation task: word_flip.

a sentence of lowercase words with n letters in all; the answer is the sentence reversed
character by character (spaces stay where the reversal puts them).
Symmetry folded: none.
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.trace import Trace


WORDS = """a i o u an at be by do go he if in is it me my no of on or so to up us we
and are big boy but can cat day dog eat far few fly fun get has her him his how man new not now
old one our out own red run say see she sky sun the too two was way who why yes you
also back blue book city come down each fast find fish from give good hand have help here home
into just kind know land life like long look make many more most much must name near next only
over part play rain read road room said same ship show side some star take tell than that them
then they this time tree very walk want warm well what when wind with word work year
about after again apple below black bring carry clean close could every field first found
green happy horse house large laugh learn light might money music never night ocean often other
paper place plant right river round small sound south still story table their there these thing
think three today under water where which while white world write young
animal answer before better bridge change circle corner dinner during enough family father
flower forest friend garden little middle minute moment mother number people person pretty
rabbit reason school second should simple spring street summer travel winter window yellow
another balance between brother company country evening example garden kitchen morning nothing
picture problem science student teacher thought weather without
computer daughter elephant exercise favorite hospital mountain question remember sentence
thousand together tomorrow vacation yourself
adventure beautiful breakfast butterfly chocolate community different excellent important
something speakable wonderful yesterday
""".split()
_BY_LEN: dict[int, list[str]] = {}
for _w in WORDS:
    _BY_LEN.setdefault(len(_w), []).append(_w)
assert set(_BY_LEN) >= set(range(1, 10)), "word flip needs words of every length 1..9"


def _flip_sample(rng: random.Random, n: int) -> dict:
    words, rem = [], n
    while rem:
        if rem <= 9 and (rem <= 3 or rng.random() < 0.35):
            k = rem
        else:
            k = rng.randint(2, min(9, rem - 1))
        words.append(rng.choice(_BY_LEN[k]))
        rem -= k
    return {"sentence": " ".join(words)}


def _q(c: str) -> str:
    return f"'{c}'"


def _flip_solve(inst: dict) -> Trace:
    s = inst["sentence"]
    m = len(s)
    tr = Trace()
    tr.state("measure the sentence", fetch={"sentence": f'"{s}"'},
             compute=f"it has {m} characters, the last at index {m - 1}",
             write={"length": m}, goto=f"copy character {m - 1}")
    for k in range(m):
        i = m - 1 - k
        tr.state(f"copy character {i}", fetch={f"s[{i}]": _q(s[i]), "length": m},
                 compute=f"{m} - 1 - {i} = {k}", write={f"r[{k}]": _q(s[i])},
                 goto=f"copy character {i - 1}" if i else "read the flipped sentence",
                 loop="character")
    answer = s[::-1]
    tr.state("read the flipped sentence", fetch={f"r[{k}]": _q(answer[k]) for k in range(m)},
             write={"flipped": f'"{answer}"'})
    letters = sum(c.isalpha() for c in s)
    tr.note(f"The sentence has {m} characters: {letters} letters and {m - letters} spaces.")
    tr.note("Writing its characters from the last to the first, spaces included, gives the "
            f"flipped sentence \"{answer}\".")
    return tr.finish(answer)


def _canonical_text(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1]
    return t


FLIP_TEMPLATES = (
    'Reverse the sentence "{sentence}" character by character.',
    'Flip the text "{sentence}" so that it reads backwards, letter by letter.',
    'Write "{sentence}" in reverse order of its characters, keeping the spaces.',
    'What is the character-level reversal of "{sentence}"?',
    'Reverse every character of the following sentence: "{sentence}"',
    'A spy writes messages backwards to hide them. How would the spy write "{sentence}"?',
    'Spell "{sentence}" from the last character to the first.',
    'Mirror the string "{sentence}" (reverse all characters, spaces included).',
    'Input: "{sentence}"\nOutput the input reversed character by character.',
    'A child reads the sign "{sentence}" starting from the end. What does the child read, '
    'character by character?',
    'Give the reverse of the string "{sentence}".',
    'Turn "{sentence}" around so the last character comes first.',
    'Word flip task: reverse "{sentence}" at the character level.',
    'A printer jammed and printed "{sentence}" backwards. What did it print?',
    'Read "{sentence}" backwards, one character at a time, and write down the result.',
    'Return the string "{sentence}" reversed.',
    'If you hold the note "{sentence}" up to a mirror and read it right to left, which '
    'characters appear in order?',
    'Produce the reversed version of the sentence "{sentence}", keeping its spaces.',
    'Invert the order of the characters in "{sentence}".',
    'A puzzle asks you to write "{sentence}" backwards. What is the answer?',
    'Reverse this sentence character by character: {sentence}',
    'What does "{sentence}" become when all of its characters are reversed?',
)


register(Task(
    name="word_flip", paradigm="simulation",
    ranges={"S": (10, 20), "M": (21, 50), "L": (51, 100)},
    sample=_flip_sample, solve=_flip_solve, templates=FLIP_TEMPLATES,
    fields=lambda inst: {"sentence": inst["sentence"]}, canonical=_canonical_text,
))
