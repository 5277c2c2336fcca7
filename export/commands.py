"""`charmix train`, `charmix export` and `charmix quantize`: the commands of the `train` extra.

torch and onnx are imported inside the command bodies so that the rest of the CLI never loads
them (`quantize` needs onnx only).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from charmix.daemon.common.fail import fail
from charmix.export.extra import need_torch

Opt = typer.Option



def _clean_ctrl_c(command: Callable[..., None]) -> Callable[..., None]:
    """Ctrl-C outside the training loop (importing torch, exporting) exits 130 without a traceback.

    Inside the loop the Trainer catches it itself and saves a checkpoint first.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs) -> None:
        try:
            command(*args, **kwargs)
        except KeyboardInterrupt:
            typer.echo("charmix: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint written by charmix train.")],
    out: Annotated[
        Path | None,
        Opt(help="Where to write the model.", show_default="USER_MODELS/NAME.onnx"),
    ] = None,
    corpus: Annotated[
        Path | None,
        Opt(help="Recompute val loss on this corpus's last 10% (default: stored value)."),
    ] = None,
) -> None:
    """Export a training checkpoint to a charmix ONNX step model."""
    need_torch()
    from charmix.daemon.engine.modelformat import user_models_dir
    from charmix.export import dataset
    from charmix.export.onnx_export import export_checkpoint
    from charmix.export.train import load_checkpoint

    try:
        ckpt = load_checkpoint(checkpoint)
        name = ckpt["train_config"]["name"]
        val = None
        if corpus is not None and ckpt["model_config"].get("styles"):
            raise dataset.CorpusError(
                "a style-conditioned checkpoint is measured on its own styles' corpora; "
                "drop --corpus"
            )
        if corpus is not None:
            val = dataset.load_corpus(corpus, ckpt["vocab"], name=name).val
        target = out or user_models_dir() / f"{name}.onnx"
        info = export_checkpoint(checkpoint, target, full_val=val)
    except dataset.CorpusError as exc:
        fail(str(exc))
    typer.echo(f"wrote {target} (val loss {info['val_loss']:.4f} nats/char)")


def quantize(
    model: Annotated[Path, typer.Argument(help="A float32 charmix model (.onnx).")],
    out: Annotated[Path, Opt(help="Where to write the 8-bit model.")],
    corpus: Annotated[
        Path | None,
        Opt(help="Measure the 8-bit model's val loss on this corpus's last 10% (recommended). "
            "For a style-conditioned model: a folder holding NAME.txt for each style."),
    ] = None,
) -> None:
    """Write MODEL with 8-bit weights: about 2.3x faster in a six-model mix, ~1/3 the size.

    The file is only written if the 8-bit model stays faithful to the original (mean KL under
    2e-3 nats per character on text the original writes). See docs/model-format.md.
    """
    if importlib.util.find_spec("onnx") is None:
        fail("quantize needs the onnx package: pip install 'charmix[train]' (or pip install onnx)")
    from charmix.daemon.engine.model import load_model
    from charmix.daemon.engine.modelformat import ModelError
    from charmix.export import dataset
    from charmix.export.quantize import QuantizeError, quantize_file

    try:
        ids = None
        if corpus is not None:
            info = load_model(model).info
            if info.styles:
                if not corpus.is_dir():
                    fail(f"{model} is style-conditioned: --corpus must be a folder holding "
                          f"{', '.join(n + '.txt' for n in info.styles)}")
                ids = [dataset.load_corpus(corpus / f"{n}.txt", info.vocab).val
                       for n in info.styles]
            else:
                ids = dataset.load_corpus(corpus, info.vocab).val
        report = quantize_file(model, out, ids)
    except (ModelError, QuantizeError, dataset.CorpusError) as exc:
        fail(str(exc))
    val = (
        f"val loss {report.val_loss:.4f} nats/char (fp32 {report.fp32_val_loss:.4f})"
        if report.val_loss is not None and report.fp32_val_loss is not None
        else "val loss not measured (no --corpus)"
    )
    typer.echo(
        f"wrote {out}: {report.matmuls} MatMuls in 8 bits, {report.bytes_before / 1e6:.1f} → "
        f"{report.bytes_after / 1e6:.1f} MB; KL from the original mean {report.mean_kl:.1e}, "
        f"max {report.max_kl:.1e} nats/char; {val}"
    )


def register(app: typer.Typer) -> None:
    from charmix.export.train_command import train

    app.command(rich_help_panel="Models")(_clean_ctrl_c(train))
    app.command(rich_help_panel="Models")(_clean_ctrl_c(export))
    app.command(rich_help_panel="Models")(_clean_ctrl_c(quantize))


