"""Steering away (issue #24): what an anti-expert does to the text, and what it costs.

    .venv/bin/python benchmarks/anti_experts.py                 # everything (a few minutes)
    .venv/bin/python benchmarks/anti_experts.py --chars 2000    # quicker, noisier
    .venv/bin/python benchmarks/anti_experts.py --only cost

Seeded (--seed), on the shipped models, geometric mode, temperature 0.8, no top-k/top-p:

* **beta**: each pair (expert +1, anti-expert −0.5) for each β, 10,000 characters each; the
  text's mean log-likelihood per character under both models (teacher-forced, at temperature 1)
  against the expert alone. The default β is the one that steers hardest (the lowest summed
  likelihood under the anti-experts) while every pair stays within 0.1 nats/char, either way, of
  its expert alone.
* **pairs**: three expert / anti-expert pairs at +1 / −0.5 and the default β, the same
  measure; and the first characters of each text, side by side.
* **cost**: the engine's full step with the six shipped models, geometric mode, three ways in
  interleaved rounds (medians of the stepping thread's CPU time, which a loaded machine
  disturbs less than the wall clock; onnxruntime runs on that thread): before (the pre-#24
  arithmetic, patched in), now with non-negative weights, now with an anti-expert. Also the mix
  alone (µs).

Prints markdown (models/README.md, "Steering away", holds a run's output).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from charmix.daemon.engine import arithmetic
from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import StepModel, load_model
from charmix.daemon.engine.modelformat import shipped_models_dir

PAIRS = (("shakespeare", "bible"), ("linux", "latex"), ("austen", "nietzsche"))
BETAS = (0.0, 0.01, 0.03, 0.1, 0.2, 0.5)
ANTI = -0.5


def cpu() -> str:
    """The CPU model and its vector flags (printed beside every figure)."""
    model, flags = platform.processor() or "?", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    vector = [f for f in ("avx2", "avx512f", "avx512_vnni") if f in flags]
    return f"{model}; {', '.join(vector) or 'no avx2'}; {os.cpu_count()} cores"


def _load(name: str) -> StepModel:
    return load_model(shipped_models_dir() / f"{name}.onnx")


def generate(names: list[str], weights: list[float], n: int, seed: int,
             beta: float = arithmetic.BETA_DEFAULT) -> str:
    engine = Engine([_load(m) for m in names], seed=seed)
    settings = Settings(weights=np.array(weights, float), mode="geometric", slew=0.0, beta=beta)
    return engine.generate(settings, n)


def loglik(model: StepModel, text: str) -> float:
    """Mean log p(c) per character under `model` at temperature 1, after a newline (nats)."""
    index = {ch: i for i, ch in enumerate(model.vocab)}
    model.reset(1)
    token = index["\n"]
    total = 0.0
    for ch in text:
        logits = model.step(np.array([token], np.int64))[0].astype(np.float64)
        top = logits.max()
        logz = top + np.log(np.exp(logits - top).sum())
        j = index.get(ch)
        total += (logits[j] - logz) if j is not None else np.log(arithmetic.GEOMETRIC_FLOOR)
        token = j if j is not None else token
    return total / len(text)


def measure_beta(n: int, seed: int) -> tuple[float, list[str]]:
    """The β sweep over every pair; (the chosen β, markdown lines). Chosen: the β that steers
    hardest (the lowest mean likelihood under the anti-experts) while every pair's text stays
    within 0.1 nats/char of its expert alone."""
    base: dict[tuple[str, str], tuple[float, float]] = {}
    for e_name, a_name in PAIRS:
        alone = generate([e_name, a_name], [1.0, 0.0], n, seed)
        base[e_name, a_name] = loglik(_load(e_name), alone), loglik(_load(a_name), alone)
    head = " | ".join(f"{e} − {a}: Δ expert, Δ anti" for e, a in PAIRS)
    lines = [f"| β | {head} |", "|---" * (len(PAIRS) + 1) + "|"]
    chosen, best = arithmetic.BETA_DEFAULT, None
    for beta in BETAS:
        cells, ok, anti_sum = [], True, 0.0
        for e_name, a_name in PAIRS:
            text = generate([e_name, a_name], [1.0, ANTI], n, seed, beta)
            de = loglik(_load(e_name), text) - base[e_name, a_name][0]
            da = loglik(_load(a_name), text) - base[e_name, a_name][1]
            cells.append(f"{de:+.3f}, {da:+.3f}")
            ok, anti_sum = ok and abs(de) <= 0.1, anti_sum + da
        lines.append(f"| {beta:g} | {' | '.join(cells)} |")
        if ok and (best is None or anti_sum < best):
            chosen, best = beta, anti_sum
    return chosen, lines


def measure_pairs(n: int, seed: int, beta: float) -> tuple[list[str], list[str]]:
    table = ["| expert | anti-expert (−0.5) | text | log-lik under expert | under anti-expert |",
             "|---|---|---|---|---|"]
    samples = ["| expert alone | expert + anti-expert at −0.5 |", "|---|---|"]
    for e_name, a_name in PAIRS:
        expert, anti = _load(e_name), _load(a_name)
        alone = generate([e_name, a_name], [1.0, 0.0], n, seed)
        steered = generate([e_name, a_name], [1.0, ANTI], n, seed, beta)
        ea, aa = loglik(expert, alone), loglik(anti, alone)
        es, as_ = loglik(expert, steered), loglik(anti, steered)
        table.append(f"| {e_name} | {a_name} | alone | {ea:.3f} | {aa:.3f} |")
        table.append(f"| | | steered | {es:.3f} ({es - ea:+.3f}) | {as_:.3f} ({as_ - aa:+.3f}) |")

        def cell(text: str) -> str:
            return text[:240].replace("|", "\\|").replace("\n", " ⏎ ")

        samples.append(f"| **{e_name}**: {cell(alone)} | **{e_name} − {a_name}**: "
                       f"{cell(steered)} |")
    return table, samples


def _old_normalise(weights: np.ndarray) -> np.ndarray:
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0).astype(np.float64)
    top = w.max(initial=0.0)
    if top <= 0.0:
        return np.full(w.shape, 1.0 / w.size)
    w /= top
    return w / w.sum()


def _old_geometric(p: np.ndarray, w: np.ndarray, beta: float = 0.0) -> np.ndarray:
    active = w > 0
    logp = w[active] @ np.log(np.maximum(p[active], arithmetic.GEOMETRIC_FLOOR))
    logp -= logp.max()
    out = np.exp(logp)
    return out / out.sum()


def _old_attribution(w: np.ndarray, p_c: np.ndarray) -> np.ndarray:
    contrib = w * p_c
    total = contrib.sum(axis=1, keepdims=True)
    return np.where(total > 0, contrib / np.where(total > 0, total, 1.0), w)


def _patched(old: bool) -> dict[str, Callable]:
    """The arithmetic functions to play with: the pre-#24 ones or today's."""
    if old:
        return {"normalise": _old_normalise, "geometric": _old_geometric,
                "attribution": _old_attribution, "linear_weights": lambda w: w}
    return {k: getattr(arithmetic, k) for k in
            ("normalise", "geometric", "attribution", "linear_weights")}


def measure_cost(steps: int, rounds: int) -> list[str]:
    names = ["austen", "bible", "latex", "linux", "nietzsche", "shakespeare"]
    now = _patched(False)
    ways = {
        "before (pre-#24 arithmetic)": (True, [1, 1, 1, 1, 1, 1.0]),
        "now, weights >= 0": (False, [1, 1, 1, 1, 1, 1.0]),
        "now, bible at −0.5": (False, [1, -0.5, 1, 1, 1, 1.0]),
    }
    engines = {k: Engine([_load(m) for m in names], seed=1) for k in ways}
    per_step: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for key, (old, w) in ways.items():
            for name, fn in _patched(old).items():
                setattr(arithmetic, name, fn)
            settings = Settings(weights=np.array(w), mode="geometric", slew=0.0)
            engine = engines[key]
            engine.generate(settings, 20)  # warm
            t0 = time.thread_time()  # CPU time: onnxruntime runs on this thread (one thread)
            engine.generate(settings, steps)
            per_step[key].append((time.thread_time() - t0) / steps * 1e6)
    for name, fn in now.items():
        setattr(arithmetic, name, fn)
    # the mix alone, on one step's real distributions
    engine = Engine([_load(m) for m in names], seed=1)
    engine.generate(Settings(weights=np.ones(6), mode="geometric"), 50)
    p, _ = engine._distributions([Settings(weights=np.ones(6), mode="geometric")])
    p = p[0]
    mix_us: dict[str, float] = {}
    for key, fn, w in (("before", _old_geometric, np.ones(6) / 6),
                       ("now, weights >= 0", arithmetic.geometric, np.ones(6) / 6),
                       ("now, bible at −0.5", arithmetic.geometric,
                        arithmetic.normalise(np.array([1, -0.5, 1, 1, 1, 1.0])))):
        best = []
        for _ in range(rounds):
            t0 = time.thread_time()
            for _ in range(2000):
                fn(p, w, arithmetic.BETA_DEFAULT)
            best.append((time.thread_time() - t0) / 2000 * 1e6)
        mix_us[key] = statistics.median(best)
    base = statistics.median(per_step["before (pre-#24 arithmetic)"])
    lines = ["| geometric step, six models | CPU µs per step (median of rounds) | vs before | "
             "the mix alone, CPU µs |", "|---|---|---|---|"]
    for (key, values), mix in zip(per_step.items(), mix_us.values(), strict=True):
        med = statistics.median(values)
        lines.append(f"| {key} | {med:.0f} | {100 * (med / base - 1):+.1f} % | {mix:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chars", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=1500, help="steps per round (cost)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=("beta", "pairs", "cost"))
    args = parser.parse_args()
    print(f"CPU: {cpu()}; {args.chars} characters, seed {args.seed}\n")
    beta = arithmetic.BETA_DEFAULT
    if args.only in (None, "beta"):
        beta, lines = measure_beta(args.chars, args.seed)
        print("\n".join(lines), f"\n\nchosen β: {beta:g}\n", sep="")
    if args.only in (None, "pairs"):
        table, samples = measure_pairs(args.chars, args.seed, beta)
        print("\n".join(table), "\n", "\n".join(samples), "\n", sep="\n")
    if args.only in (None, "cost"):
        print("\n".join(measure_cost(args.steps, args.rounds)))


if __name__ == "__main__":
    main()
