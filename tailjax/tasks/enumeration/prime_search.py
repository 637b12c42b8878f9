"""Enumeration task: prime_search.

Instance: a range [lo, hi] with hi = n and lo drawn from [n - n//3, n], so the range grows
with n (a third of n keeps the L traces near 32k characters). Answer: every prime p with
lo <= p <= hi, comma-separated in increasing order, or "none"; scoring ignores the order.
Enumeration: trial division of each k in the range by d = 2, 3, 5, 7, 9, ... (2, then the
odd numbers) while d*d <= k, one state per division that also squares the next divisor for
the loop test, stopping at the first divisor.
Symmetry folded: none (lo and hi give the range).
"""

from __future__ import annotations

import random

from tailjax.tasks.registry import Task, register
from tailjax.tasks.scoring import canonical_int_list
from tailjax.tasks.trace import Trace


def sample_primes(rng: random.Random, n: int) -> dict:
    if n < 2:
        raise ValueError(f"prime_search searches up to n >= 2 (there is no prime below 2), got "
                         f"length {n}; give lengths with LO >= 2")
    return {"lo": rng.randint(max(2, n - n // 3), n), "hi": n}


def solve_primes(instance: dict):
    lo, hi = instance["lo"], instance["hi"]
    tr = Trace()
    tr.note(f"Test every number from {lo} to {hi} by trial division up to its square root.")
    primes = []
    for k in range(lo, hi + 1):
        d = 2
        composite = False
        while d * d <= k:
            m = k % d
            if m == 0:
                tr.state(f"divide {k} by {d}", fetch={"k": k, "d": d},
                         compute=f"{k} mod {d} = 0, {k} is composite", loop="divide")
                composite = True
                break
            nxt = 3 if d == 2 else d + 2  # after 2, only odd divisors can divide an odd k
            tr.state(f"divide {k} by {d}", fetch={"k": k, "d": d},
                     compute=f"{k} mod {d} = {m}, {nxt}*{nxt} = {nxt * nxt}", loop="divide")
            d = nxt
        if not composite:
            primes.append(k)
            tr.state(f"accept {k}", fetch={"k": k},
                     compute=f"no divisor d with d*d <= {k}, {k} is prime",
                     write={"primes": " ".join(map(str, primes))})
    answer = ",".join(map(str, primes)) or "none"
    tr.state("report primes", fetch={"primes": " ".join(map(str, primes)) or "none"},
             compute=f"{len(primes)} primes found")
    tr.note(f"The primes between {lo} and {hi} are {answer}.")
    return tr.finish(answer)


def canonical_primes(text: str) -> str:
    return canonical_int_list(text, sort=True)


PRIME_TEMPLATES = (
    "List all prime numbers between {lo} and {hi}, inclusive.",
    "Find every prime p with {lo} <= p <= {hi}.",
    "Which numbers in the range [{lo}, {hi}] are prime?",
    "Give all primes in the interval from {lo} to {hi}.",
    "Enumerate the primes between {lo} and {hi} (both ends included).",
    "What are the prime numbers from {lo} up to {hi}?",
    "Output the primes in [{lo}, {hi}] in increasing order, or none if there are none.",
    "Search the integers {lo}..{hi} for primes and list them.",
    "Using trial division, find all primes not smaller than {lo} and not larger than {hi}.",
    "Identify each prime among the integers from {lo} through {hi}.",
    "List the primes p such that p >= {lo} and p <= {hi}.",
    "Determine all prime numbers in the closed range {lo} to {hi}.",
    "A locksmith only uses prime numbers between {lo} and {hi} as codes. Which codes can he "
    "use?",
    "Houses on a street are numbered {lo} to {hi}. A mail carrier delivers flyers only to "
    "houses with prime numbers. Which houses get a flyer?",
    "A teacher gives a sticker to each student whose ticket number, between {lo} and {hi}, is "
    "prime. Which ticket numbers win a sticker?",
    "A cicada species emerges only in years whose count is prime. Which counts from {lo} to "
    "{hi} qualify?",
    "A bank issues account numbers from {lo} to {hi} and reserves the prime ones. Which "
    "numbers are reserved?",
    "In a treasure hunt, only the prime-numbered boxes between {lo} and {hi} hold a prize. "
    "List the winning boxes.",
    "A cryptography class needs all the primes from {lo} to {hi} for key generation. List "
    "them.",
    "Seats in a theatre row are numbered {lo} through {hi}; the prime-numbered seats are "
    "reserved for guests. Which seats are reserved?",
    "A library shelves rare books only at prime shelf numbers between {lo} and {hi}. Which "
    "shelves hold rare books?",
    "A quiz asks for every prime page number in a chapter running from page {lo} to page {hi}. "
    "What is the answer?",
)
# What the scorer requires (Task.answer_rule): a list, or none.
PRIME_ANSWER = "Answer with the primes comma-separated (in any order), or none if there is none."


def prime_fields(instance: dict) -> dict:
    return {"lo": instance["lo"], "hi": instance["hi"]}


register(Task(
    name="prime_search",
    paradigm="enumeration",
    ranges={"S": (5, 100), "M": (101, 200), "L": (201, 300)},
    sample=sample_primes,
    solve=solve_primes,
    templates=PRIME_TEMPLATES,
    fields=prime_fields,
    canonical=canonical_primes,
    answer_rule=PRIME_ANSWER,
))
