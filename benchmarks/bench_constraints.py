"""Constraints (issue 21): what a blocklist costs per step, and what it does to a long text.

    .venv/bin/python benchmarks/bench_constraints.py                      # both parts
    .venv/bin/python benchmarks/bench_constraints.py --chars 100000      # a shorter long run
    .venv/bin/python benchmarks/bench_constraints.py --cost-only

1. **Cost per step**: the engine's mix-and-sample step (the models run ahead, `Engine.advance`,
   outside the timer: the blocklist touches only the step) for the six shipped models, one
   voice, without constraints, with a 2,000-term list (the default list plus generated words)
   and with the list and a charset (every step masked), measured in the same run, step by step
   in turn; the median over the rounds of each round's CPU time per step (goal: ≤ 10 µs on top).
2. **Long run**: `--chars` characters (default 1,000,000; bounded by `--max-seconds`) with the
   weights leaning to the bible and shakespeare at T 1.0, in `--voices` streams, unconstrained
   and with the blocklist = the default list plus the words the models write most often (picked
   by sampling first). Reports: blocked words written (must be 0, checked with a regular
   expression here), the probability mass masked per 1,000 characters, and each leaning model's
   loss (nats/char: −log p_i of the character written) on the masked vs the unmasked text.

Prints the CPU model and flags beside the numbers.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from charmix.daemon.engine.constraints import Constraints, Term, load_terms, parse_term
from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("shakespeare", "austen", "nietzsche", "bible", "linux", "latex")
LEAN = np.array([0.4, 0.05, 0.05, 0.4, 0.05, 0.05])


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    name = re.search(r"model name\s*:\s*(.*)", info)
    flags = re.search(r"flags\s*:\s*(.*)", info)
    have = set(flags.group(1).split()) if flags else set()
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni") if f in have]
    model = name.group(1) if name else "?"
    return f"{model} ({', '.join(simd) or 'no avx2'}; {os.cpu_count()} cores)"


def engine(voices: int = 1, seed: int = 1) -> Engine:
    return Engine([load_model(ROOT / "models" / f"{n}.onnx") for n in MODELS], seed=seed,
                  voices=voices)


def two_thousand_terms() -> list[Term]:
    """The default list plus made-up words up to 2,000 terms (prefixes of real words among
    them, so the automaton is as deep as a real list's)."""
    terms = set(load_terms("default"))
    rng = np.random.default_rng(0)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    while len(terms) < 2000:
        n = int(rng.integers(3, 9))
        terms.add(parse_term("".join(rng.choice(letters, n))))
    return sorted(terms)[:2000]


def cost(rounds: int, steps: int) -> None:
    print(f"CPU: {cpu()}")
    plain = Settings(weights=LEAN.copy(), temperature=1.0)
    blocked = Constraints.build(two_thousand_terms())
    guarded = Settings(weights=LEAN.copy(), temperature=1.0, constraints=blocked)
    charset = Settings(weights=LEAN.copy(), temperature=1.0,
                       constraints=blocked.with_charset("a-zA-Z .,;:!?'\\n"))
    results: dict[str, list[float]] = {"none": [], "2000 terms": [], "+ charset": []}
    e = {name: engine(seed=2) for name in results}
    settings = {"none": plain, "2000 terms": guarded, "+ charset": charset}
    for name in results:  # warm-up: build the tables, fill caches
        for _ in range(200):
            e[name].step(settings[name], 0.01)
    for _ in range(rounds):  # step by step in turn, so a change of load hits all alike
        total = dict.fromkeys(results, 0.0)
        for _ in range(steps):
            for name in results:
                eng = e[name]
                eng.advance()
                t = time.thread_time_ns()
                eng.step_voices([settings[name]], 0.01)
                total[name] += time.thread_time_ns() - t
        for name in results:
            results[name].append(total[name] / steps / 1e3)
    base = float(np.median(results["none"]))
    with_list = float(np.median(results["2000 terms"]))
    print(f"step (mix + sample), 6 models, 1 voice, median of {rounds} rounds x {steps} steps:")
    print(f"  no constraints:  {base:6.1f} µs")
    print(f"  2,000 terms:     {with_list:6.1f} µs   (+{with_list - base:.1f} µs)")
    both = float(np.median(results["+ charset"]))
    print(f"  + a charset:     {both:6.1f} µs   (+{both - base:.1f} µs: every step masked)")


def words(text: str) -> str:
    low = "".join(ch.lower() if ch.isalnum() else " " for ch in text)
    return re.sub(" +", " ", " " + low)


def written(terms: list[Term], text: str) -> int:
    w = words(text)
    return sum(len(re.findall(f"(?= {re.escape(t.text)} )", w)) for t in terms if not t.substring)


def run(constraints: Constraints | None, chars: int, voices: int, max_seconds: float
        ) -> tuple[list[str], np.ndarray, float, int, Engine]:
    """(each voice's text, Σ −log p_i per model, seconds, characters, the engine)."""
    e = engine(voices, seed=7)
    s = Settings(weights=LEAN.copy(), temperature=1.0, constraints=constraints)
    texts: list[list[str]] = [[] for _ in range(voices)]
    nll = np.zeros(len(MODELS))
    start = time.monotonic()
    n = 0
    while n < chars and time.monotonic() - start < max_seconds:
        for f in e.step_voices([s] * voices, 0.01):
            texts[f.voice].append(f.char)
            nll -= np.log(np.maximum(f.p_models[:, f.index].astype(np.float64), 1e-30))
            n += 1
    return ["".join(t) for t in texts], nll, time.monotonic() - start, n, e


def long_run(chars: int, voices: int, max_seconds: float, unmasked: bool = True) -> None:
    print(f"CPU: {cpu()}")
    probe, _, _, _, _ = run(None, 20_000, voices, max_seconds)
    counts = Counter(w for text in probe for w in words(text).split() if len(w) >= 3)
    often = [w for w, _ in counts.most_common(10)]
    terms = sorted(set(load_terms("default")) | {parse_term(w) for w in often})
    blocked = Constraints.build(terms)
    print(f"blocklist: the default list + the 10 words the models wrote most often in 20,000 "
          f"characters: {', '.join(often)} ({len(terms)} terms)")
    runs = (("unmasked", None), ("masked", blocked)) if unmasked else (("masked", blocked),)
    for name, c in runs:
        texts, nll, seconds, n, e = run(c, chars, voices, max_seconds)
        hits = sum(written(terms, t) for t in texts)
        loss = nll / n
        lean = {m: f"{loss[i]:.3f}" for i, m in enumerate(MODELS) if LEAN[i] > 0.1}
        line = f"{name:9s} {n:,} chars in {seconds:.0f} s: blocked words written {hits}; " \
               f"loss (nats/char) {lean}"
        print(line)
        if c is not None:
            stats = [e.guards.stats(k) for k in range(voices)]
            mass = sum(st.masked_mass for st in stats)
            words_blocked = sum(st.words_blocked for st in stats)
            fallbacks = sum(st.fallbacks for st in stats)
            print(f"          masked {mass / n * 1000:.2f} of probability mass per 1,000 "
                  f"characters; {words_blocked / n * 1000:.2f} words blocked per 1,000 "
                  f"characters; {fallbacks} fallbacks")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chars", type=int, default=1_000_000)
    ap.add_argument("--voices", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=1800.0, help="per run")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--cost-only", action="store_true")
    ap.add_argument("--long-only", action="store_true")
    ap.add_argument("--masked-only", action="store_true",
                    help="the long run without its unconstrained twin (half the time)")
    args = ap.parse_args()
    if not args.long_only:
        cost(args.rounds, args.steps)
    if not args.cost_only:
        long_run(args.chars, args.voices, args.max_seconds, not args.masked_only)


if __name__ == "__main__":
    main()
