"""Where each wrong tagged addition trace (run 21's notation) first goes wrong, by length.

    python docs/results/first_errors.py RUN/eval/samples.jsonl

For every wrong sample of 7 digits or more, walks the model's "add the digits at place" lines
against the digits the prompt holds (read by their tags) and the carry, and names the first
field that differs: the place, x1's or x2's fetch, the carry in, the arithmetic, a missed blank
cell or an early stop. Prints the counts per input length (places counted from 1 at the units).
"""
import json
import re
import sys
from collections import Counter, defaultdict

from tailjax.tasks.simulation.addition import TAGS


def parse_prompt(p):
    m = re.match(r"What is (\S+) \+ (\S+)\?", p)
    return m.group(1), m.group(2)

def reference(sample):
    a, b = parse_prompt(sample["prompt"])
    # rebuild the reference trace from the prompt: digits by tag
    def digits(x):
        cells = dict((t.upper(), d) for d, t in re.findall(r"([0-9_])([A-Za-z])", x))
        return cells
    c1, c2 = digits(a), digits(b)
    tags = sorted([t for t in c1 if c1[t] != "_"], key=TAGS.index)
    return tags, c1, c2

by = defaultdict(Counter)
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["correct"] or s["length"] < 7:
        continue
    tags, c1, c2 = reference(s)
    out = s["output"].split("\n")
    lines = [l for l in out if l.startswith("add the digits")]
    n = len(tags)
    kind = None
    carry = 0
    for i, t in enumerate(tags + ["blank"]):
        if i >= len(lines):
            kind = f"stopped early after {i} places"; break
        l = lines[i]
        if t == "blank":
            if "the operands end" not in l:
                kind = "missed the blank"
            break
        m = re.match(r"add the digits at place (\w): x1=(\w)(\S), x2=(\w)(\S), carry=(\d) ; (.*?) ; s\[(\w)\]=(\S), carry=(\d) ; -> (.*)", l)
        if not m:
            kind = f"place {i+1}: unparsed/ended ({l[:60]!r})"; break
        P, t1, d1, t2, d2, cin, comp, sw, sd, cout, goto = m.groups()
        if P != t: kind = f"place {i+1}: wrong place {P}"; break
        if d1 != c1[t]: kind = f"place {i+1}: x1 fetch"; break
        if d2 != c2[t]: kind = f"place {i+1}: x2 fetch"; break
        if int(cin) != carry: kind = f"place {i+1}: carry in"; break
        tot = int(c1[t]) + int(c2[t]) + carry
        if sd != str(tot % 10) or int(cout) != tot // 10: kind = f"place {i+1}: arithmetic"; break
        carry = tot // 10
    by[s["length"]][kind or "other"] += 1
for L in sorted(by):
    print(L, dict(by[L].most_common(8)))
