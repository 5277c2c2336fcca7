"""`charmix models` and `charmix sample`: look at models and generate text without the daemon.

`sample` runs the daemon's own Engine (onnxruntime, not torch), so what it prints is what the
daemon would play with the same models, weights, temperature and seed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charmix.daemon.common.fail import fail
from charmix.daemon.engine.modelformat import (  # the contract only: no numpy, no onnxruntime
    FP32_VAL_LOSS_KEY,
    PARAMETERS_KEY,
    TRAIN_CHARS_KEY,
    TRAIN_CONFIG_KEY,
    TRAIN_SECONDS_KEY,
    TRAIN_STEPS_KEY,
    VOCAB_FILE,
    ModelError,
    model_files,
    resolve_model,
    shipped_models_dir,
    user_models_dir,
)
from charmix.daemon.protocol.table import BETA_DEFAULT

if TYPE_CHECKING:  # numpy and onnxruntime load inside the commands: `charmix --help` stays fast
    from charmix.daemon.engine.model import ModelInfo

Opt = typer.Option



def models(
    folder: Annotated[
        Path | None, typer.Argument(help="Folder of .onnx models [default: the shipped models].")
    ] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the metadata as JSON.")] = False,
    markdown: Annotated[
        bool,
        Opt("--markdown", help="Print a Markdown table with training figures."),
    ] = False,
    where: Annotated[
        bool, Opt("--where", help="Print the shipped and the user models folders, and exit.")
    ] = False,
) -> None:
    """List models with their metadata (val loss, size, corpus): the shipped ones, then your own.

    "vocab" reads "102 own" for a model whose vocabulary differs from the shipped models' one (it
    still mixes: the daemon works in the union). A style-conditioned model lists its styles.
    """
    from rich.console import Console
    from rich.table import Table

    from charmix.daemon.engine.model import load_model

    if where:
        typer.echo(f"shipped models: {shipped_models_dir()}")
        typer.echo(f"your models:    {user_models_dir()} (charmix train writes there)")
        return
    try:
        files = model_files(folder)
        if folder is None and not markdown and user_models_dir().is_dir():
            files += model_files(user_models_dir())
    except ModelError as exc:
        fail(str(exc))
    rows, problems = [], []
    for path in files:
        try:
            info = load_model(path).info
        except ModelError as exc:
            problems.append(str(exc))
            continue
        rows.append((path, info))
    if as_json:
        out = [
            {"file": str(p), "name": i.name, "size_bytes": p.stat().st_size, **i.meta}
            for p, i in rows
        ]
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    elif markdown:
        typer.echo(markdown_table(rows))
    else:
        places = [folder] if folder else [shipped_models_dir(), user_models_dir()]
        table = Table(title=f"charmix models in {' and '.join(map(str, places))}")
        cells = [
            (*summary(path, info), corpus_cell(info))
            for path, info in rows
        ]
        headers = SUMMARY
        for k, col in enumerate(headers):
            # Names and numbers are never wrapped or cut; the corpus description wraps.
            widest = max((len(row[k]) for row in cells), default=0)
            table.add_column(
                col, justify="left" if k == 0 else "right", no_wrap=True, min_width=widest
            )
        table.add_column("corpus")
        for row in cells:
            table.add_row(*row)
        console = Console()
        if not console.is_terminal:  # piped: don't squeeze the table into rich's default 80
            console = Console(width=max(console.width, 120))
        console.print(table)
        if not rows:
            typer.echo("no models found", err=True)
    for problem in problems:
        typer.echo(f"charmix: skipped {problem}", err=True)


SUMMARY = ("name", "LSTM", "weights", "params", "vocab", "val nats", "bits/char", "MB")
TRAINING = ("fp32 val nats", "training chars", "steps", "minutes", "batch", "dropout")



def corpus_cell(info: ModelInfo) -> str:
    text = info.corpus.get("description") or info.corpus.get("name", "")
    if info.styles:
        text = f"styles: {', '.join(info.styles)}. {text}"
    return text


def shipped_vocab() -> list[str] | None:
    try:
        return json.loads((shipped_models_dir() / VOCAB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def summary(path: Path, info: ModelInfo) -> tuple[str, ...]:
    """The SUMMARY cells of one model, as both tables show them."""
    val = info.val_loss
    own = "" if info.vocab == shipped_vocab() else " own"
    return (
        info.name,
        f"{info.layers}×{info.hidden}",
        info.weights.split("-")[0],  # int8 or fp32
        f"{int(info.meta.get(PARAMETERS_KEY, 0)):,}",
        f"{len(info.vocab)}{own}",
        "-" if val is None else f"{val:.4f}",
        "-" if val is None else f"{val / math.log(2):.4f}",
        f"{path.stat().st_size / 1e6:.1f}",
    )


def training(info: ModelInfo) -> tuple[str, ...]:
    """The TRAINING cells of one model (from its metadata)."""
    meta = info.meta
    config = json.loads(meta.get(TRAIN_CONFIG_KEY, "{}") or "{}")
    fp32_val = meta.get(FP32_VAL_LOSS_KEY)
    return (
        "-" if fp32_val is None else f"{float(fp32_val):.4f}",
        f"{int(meta.get(TRAIN_CHARS_KEY, 0)):,}",
        meta.get(TRAIN_STEPS_KEY, "-"),
        f"{float(meta.get(TRAIN_SECONDS_KEY, 0)) / 60:.1f}",
        f"{config.get('batch', '-')}×{config.get('seq_len', '-')}",
        dropout_cell(config),
    )


def dropout_cell(config: dict) -> str:
    """'0.2', or '0.2, W_hh 0.15' for a model trained with DropConnect on its recurrent
    weights (--weight-dropout), so the table tells the two recipes apart."""
    cell = str(config.get("dropout", "-"))
    if config.get("weight_dropout"):
        cell += f", W_hh {config['weight_dropout']:g}"
    if config.get("embed_dropout"):
        cell += f", embedding {config['embed_dropout']:g}"
    return cell


def markdown_table(rows: list[tuple[Path, ModelInfo]]) -> str:
    """The models as a Markdown table: what models/README.md shows (a test keeps them equal)."""
    headers = SUMMARY + TRAINING
    lines = ["| " + " | ".join(headers) + " |", "|---|---|---|" + "--:|" * (len(headers) - 3)]
    for path, info in rows:
        lines.append("| " + " | ".join(summary(path, info) + training(info)) + " |")
    return "\n".join(lines)


def sample(
    model: Annotated[
        list[str], Opt("--model", "-m", help="Model name or .onnx path; repeat to mix several.")
    ],
    weights: Annotated[
        str | None,
        Opt(help="Comma-separated weights, one per model (one per style of a style-conditioned "
            "model); with --mode geometric a negative one is an anti-expert (steers away).",
            show_default="equal"),
    ] = None,
    n: Annotated[int, Opt("-n", min=0, help="Characters to generate.")] = 500,
    temperature: Annotated[float, Opt(min=0.05, max=5.0, help="Sampling temperature.")] = 0.8,
    mode: Annotated[str, Opt(help="linear (Σ w p) or geometric (Π p^w).")] = "linear",
    topk: Annotated[int, Opt(min=0, help="Top-k truncation (0 = off).")] = 0,
    topp: Annotated[float, Opt(min=0.0, max=1.0, help="Nucleus truncation (1 = off).")] = 1.0,
    beta: Annotated[float, Opt(min=0.0, max=1.0, help="With anti-experts: keep only characters "
                               "at least beta × the experts' best (0 = off).")] = BETA_DEFAULT,
    prime: Annotated[str, Opt(help="Text fed to the models first (echoed).")] = "",
    seed: Annotated[int | None, Opt(help="Seed: the same seed gives the same text.")] = None,
    models_dir: Annotated[Path | None, Opt(help="Where bare model names are looked up.")] = None,
    style_mode: Annotated[
        str, Opt(help="A style-conditioned model: embedding (styles blended in the network) or "
                 "mixture (the weighted mix of its pure styles).")
    ] = "embedding",
    blocklist: Annotated[
        list[str] | None, Opt(metavar="FILE|default",
                              help="Words never written, as charmix daemon --blocklist.")
    ] = None,
    charset: Annotated[str, Opt(help="The only characters written, as charmix daemon "
                                "--charset.")] = "",
    fold: Annotated[str, Opt(help="upper, lower or none: the case of the text printed.")] = "none",
) -> None:
    """Generate text offline through the daemon's engine, mixing when several models are given."""
    import numpy as np

    from charmix.daemon.engine.constraints import ConstraintError, fold_text, from_settings
    from charmix.daemon.engine.mixer import Engine, Settings
    from charmix.daemon.engine.model import load_model
    from charmix.daemon.engine.styles import STYLE_MODES, expand

    if mode not in ("linear", "geometric"):
        fail(f"--mode must be linear or geometric, not {mode!r}", 2)
    if style_mode not in STYLE_MODES:
        fail(f"--style-mode must be {' or '.join(STYLE_MODES)}, not {style_mode!r}", 2)
    try:
        loaded = expand([load_model(resolve_model(spec, models_dir)) for spec in model],
                        style_mode)
    except ModelError as exc:
        fail(str(exc))
    if weights is None:
        w = np.ones(len(loaded))
    else:
        try:
            w = np.array([float(x) for x in weights.split(",")])
        except ValueError:
            fail(f"--weights must be numbers separated by commas, not {weights!r}", 2)
        if w.size != len(loaded):
            names = ", ".join(m.name for m in loaded)
            fail(f"--weights has {w.size} values for {len(loaded)} models ({names})", 2)
        if not np.all(np.isfinite(w)):
            fail("--weights must be finite and non-negative", 2)
        if np.any(w < 0) and mode != "geometric":
            fail("--weights must be non-negative in linear mode (a negative weight, an "
                 "anti-expert, needs --mode geometric)", 2)
        if np.any(w < 0) and not np.any(w > 0):
            fail("--weights: an anti-expert needs a positive weight beside it", 2)
    try:
        engine = Engine(loaded, seed=seed, weights=w)
    except ValueError as exc:
        fail(str(exc))
    try:  # a venue's constraints (engine/constraints.py), refused in one line
        constraints = from_settings(blocklist or [], charset, fold)
        if constraints is not None:
            constraints.compiled(engine.vocab)
    except ConstraintError as exc:
        fail(str(exc))
    settings = Settings(
        weights=w, temperature=temperature, mode=mode, topk=topk, topp=topp, slew=0.0, beta=beta,
        constraints=constraints,
    )
    shown = constraints.fold if constraints is not None else ""
    engine.prime(prime)
    out = sys.stdout
    out.write(prime)
    for _ in range(n):
        out.write(fold_text(engine.step(settings, 0.0).char, shown))
    out.write("\n")
    out.flush()


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Models")(models)
    app.command(rich_help_panel="Models")(sample)
