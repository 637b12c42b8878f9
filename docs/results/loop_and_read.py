"""Where the loop stops and how far the read goes, from a run's eval samples (runs 16-19 of
docs/results/length-generalization.md: consecutive tags, a blank cell "_X" above each operand).

Reads RUN/eval/samples.jsonl and prints per operand length:
- start right: the trace's "the places start at X" names x1's units tag (the lowest letter
  with a digit);
- last fetch blank / truly blank: the loop's last column fetched "x1=X_", and X is the blank
  cell in the prompt;
- x1 fetch right by place: for the k-th place above the units, right fetches / fetches;
- read items: how many "s[X]=" items the "read the sum" state lists (a right read of an n-digit
  sum lists n or n + 1 digits and the sentinel).

    python docs/results/loop_and_read.py runs/demo
"""

import collections
import json
import re
import sys

COLUMN = re.compile(r"add the digits at place (\w): x1=(\w)(\S), x2=(\w)(\S),")


def main(run: str):
    counts = collections.defaultdict(collections.Counter)
    fetches = collections.defaultdict(collections.Counter)
    for line in open(f"{run}/eval/samples.jsonl"):
        s = json.loads(line)
        n, out = s["length"], s["output"]
        x1 = s["prompt"].split("What is ")[1].rstrip("? ").split(" + ")[0]
        cells = {x1[i + 1]: x1[i] for i in range(0, len(x1), 2)}
        units = min(t for t, d in cells.items() if d != "_")
        c = counts[n]
        c["samples"] += 1
        start = re.search(r"the places start at (\w)", out)
        c["start right"] += bool(start) and start.group(1) == units
        columns = COLUMN.findall(out)
        if columns:
            _, tag, value, *_ = columns[-1]
            c["last fetch blank"] += value == "_"
            c["truly blank"] += value == "_" and cells.get(tag) == "_"
        for place, tag, value, *_ in columns:
            k = ord(place) - ord(units)
            fetches[n][k, cells.get(tag) == value] += 1
        read = re.search(r"read the sum: (.*?) ;", out)
        items = read.group(1).count("s[") if read else "none"
        c[f"read items {items}"] += 1
    for n, c in sorted(counts.items()):
        reads = ", ".join(f"{k.split()[-1]}: {v}" for k, v in sorted(c.items())
                          if k.startswith("read items"))
        by_place = " ".join(f"{k}:{fetches[n][k, True]}/{fetches[n][k, True] + fetches[n][k, False]}"
                            for k in range(16) if fetches[n][k, True] + fetches[n][k, False])
        print(f"{n:>2} digits ({c['samples']}): start right {c['start right']}, last fetch blank "
              f"{c['last fetch blank']} (truly {c['truly blank']}); read items {reads}\n"
              f"   x1 fetch right by place: {by_place}")


if __name__ == "__main__":
    main(sys.argv[1])
