"""Where each wrong tagged addition trace first goes wrong, by length.

    python docs/results/first_errors.py RUN/eval/samples.jsonl

For every wrong sample of 7 digits or more, walks the model's "add the digits at place" lines
against the digits the prompt holds (read by their tags) and the carry, and names the first
field that differs: the place, x1's or x2's fetch, the carry in, the arithmetic, a missed blank
cell or an early stop. Prints the counts per input length (places counted from 1 at the units).
Reads run 21's notation (x2's letters x1's in lower case), run 25's (x2's 13 on), run 26's
(letters around the circle A..Z) and run 27's (x1's every other letter, x2's the ones between)
alike: each operand's letters are counted from its units pair, which the prompt writes last, in
steps of the operand's letter spacing.
"""
import json
import math
import re
import sys
from collections import Counter, defaultdict


def operand(text):
    """{place: cell} of a prompt operand, its places counted from 0 at its units (last) pair;
    the units' letter, the alphabet's first letter in its case, and the letters' spacing."""
    pairs = re.findall(r"([0-9_])([A-Za-z])", text)
    units = pairs[-1][1]
    base = ord("a") if units.islower() else ord("A")
    distances = [(ord(t) - ord(units)) % 26 for _, t in pairs]
    step = math.gcd(*distances)
    return {k // step: d for k, (d, _) in zip(distances, pairs)}, units, (base, step)


def letter(units, spacing, p):
    base, step = spacing
    return chr(base + (ord(units) - base + step * p) % 26)


by = defaultdict(Counter)
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["correct"] or s["length"] < 7:
        continue
    (c1, u1, b1), (c2, u2, b2) = (operand(x) for x in
                                  re.match(r"What is (\S+) \+ (\S+)\?", s["prompt"]).groups())
    n = s["length"]
    lines = [l for l in s["output"].split("\n") if l.startswith("add the digits")]
    kind, carry = None, 0
    for p in range(n + 1):
        if p >= len(lines):
            kind = f"stopped early after {p} places"
            break
        l = lines[p]
        if p == n:
            if "the operands end" not in l:
                kind = "missed the blank"
            break
        m = re.match(r"add the digits at place (\w): x1=(\w)(\S), x2=(\w)(\S), carry=(\d) ; "
                     r"(.*?) ; s\[(\w)\]=(\S), carry=(\d) ; -> (.*)", l)
        if not m:
            kind = f"place {p + 1}: unparsed/ended ({l[:60]!r})"
            break
        place, t1, d1, t2, d2, cin, _, _, sd, cout, _ = m.groups()
        if place != letter(u1, b1, p):
            kind = f"place {p + 1}: wrong place {place}"
        elif d1 != c1[p]:
            kind = f"place {p + 1}: x1 fetch"
        elif t2 != letter(u2, b2, p):
            kind = f"place {p + 1}: x2's tag"
        elif d2 != c2[p]:
            kind = f"place {p + 1}: x2 fetch"
        elif int(cin) != carry:
            kind = f"place {p + 1}: carry in"
        else:
            total = int(c1[p]) + int(c2[p]) + carry
            if sd != str(total % 10) or int(cout) != total // 10:
                kind = f"place {p + 1}: arithmetic"
            carry = total // 10
        if kind:
            break
    by[s["length"]][kind or "other"] += 1
for n in sorted(by):
    print(n, dict(by[n].most_common(8)))
