"""`charmix train`, `charmix export` and `charmix quantize`: the commands of the `train` extra.

torch and onnx are imported inside the command bodies so that the rest of the CLI never loads
them (`quantize` needs onnx only).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"charmix: {message}", err=True)
    raise typer.Exit(code)


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


def _need_torch() -> None:
    """Fail in one line when the train extra is missing; finding it is instant, importing is not."""
    if any(importlib.util.find_spec(m) is None for m in ("torch", "onnx")):
        _fail(
            "training needs torch and onnx: pip install 'charmix[train]' "
            "(on a CPU machine install the CPU torch wheel first, e.g. pip install torch==2.13.0)"
        )


def train(
    corpus: Annotated[Path, typer.Argument(help="UTF-8 text file to learn the style of.")],
    name: Annotated[str, Opt(help="Model name (used for models/NAME.onnx and OSC addresses).")],
    out: Annotated[
        Path | None, Opt(help="Where to write the model [default: models/NAME.onnx].")
    ] = None,
    description: Annotated[
        str, Opt(help="One line describing the corpus (stored in the model).")
    ] = "",
    vocab: Annotated[
        Path | None,
        Opt(help="Shared vocabulary (JSON list of characters); see docs/model-format.md."),
    ] = None,
    errors: Annotated[
        str, Opt(help="Invalid UTF-8: 'strict' (stop with the byte offset) or 'replace'.")
    ] = "strict",
    layers: Annotated[int, Opt(min=1, max=8, help="LSTM layers.")] = 2,
    hidden: Annotated[int, Opt(min=8, max=2048, help="LSTM units per layer.")] = 256,
    embedding: Annotated[int, Opt(min=4, max=1024, help="Character embedding size.")] = 64,
    dropout: Annotated[
        float, Opt(min=0.0, max=0.9, help="Dropout between layers and before the head.")
    ] = 0.25,
    seq_len: Annotated[int, Opt(min=8, help="Characters per truncated-BPTT chunk.")] = 128,
    batch: Annotated[int, Opt(min=1, help="Parallel streams per step.")] = 64,
    lr: Annotated[float, Opt(min=0.0, help="Peak learning rate (AdamW, cosine decay).")] = 3e-3,
    weight_decay: Annotated[float, Opt(min=0.0, help="AdamW weight decay on matrices.")] = 0.1,
    max_steps: Annotated[
        int, Opt(min=1, help="Steps; also the length of the cosine schedule.")
    ] = 3000,
    max_time: Annotated[float | None, Opt(help="Stop after this many minutes of training.")] = None,
    eval_every: Annotated[int, Opt(min=1, help="Steps between validation runs.")] = 100,
    patience: Annotated[
        int, Opt(min=1, help="Stop after this many evaluations without a new best.")
    ] = 8,
    seed: Annotated[int, Opt(help="Seed for weights, data order and dropout.")] = 1337,
    device: Annotated[str, Opt(help="auto (CUDA when present), cpu, cuda, cuda:N.")] = "auto",
    batching: Annotated[
        str,
        Opt(help="stateful (streams with carried state, as the daemon runs) or random windows."),
    ] = "stateful",
    threads: Annotated[int | None, Opt(help="torch CPU threads [default: torch's choice].")] = None,
    checkpoint_dir: Annotated[Path | None, Opt(help="[default: checkpoints/NAME/]")] = None,
    resume: Annotated[bool, Opt(help="Continue exactly from checkpoint_dir/last.pt.")] = False,
) -> None:
    """Train a character LSTM on CORPUS and export it as a charmix model.

    Validation is the last 10% of the file. Ctrl-C saves a checkpoint; --resume continues it.
    """
    from charmix.export import dataset

    _need_torch()
    if batching not in ("stateful", "random"):
        _fail(f"--batching must be stateful or random, not {batching!r}", 2)  # usage
    ckpt_dir = checkpoint_dir or Path("checkpoints") / name
    out = out or Path("models") / f"{name}.onnx"
    corpus_data = None
    if not resume:  # read the corpus before the slow torch import: a bad corpus fails at once
        try:
            shared = dataset.load_vocab(vocab) if vocab else None
            corpus_data = dataset.load_corpus(corpus, shared, errors, name)
        except dataset.CorpusError as exc:
            _fail(str(exc))
    import torch

    from charmix.export.onnx_export import export_checkpoint
    from charmix.export.progress import TrainProgress
    from charmix.export.train import Interrupted, TrainConfig, Trainer, load_checkpoint

    if threads:
        torch.set_num_threads(threads)
    try:
        if resume:
            ckpt = load_checkpoint(ckpt_dir / "last.pt")
            cfg = TrainConfig(**ckpt["train_config"])
            if "errors" not in ckpt["train_config"]:  # checkpoints from before it was stored
                cfg.errors = errors
            cfg.max_steps, cfg.patience = max_steps, patience
            cfg.max_time = max_time * 60 if max_time is not None else cfg.max_time
            shared = ckpt["vocab"]
            corpus_data = dataset.load_corpus(Path(cfg.corpus_path), shared, cfg.errors, name)
            if corpus_data.vocab != shared:
                _fail(f"{ckpt_dir / 'last.pt'}: vocabulary differs from the corpus")
        else:
            cfg = TrainConfig(
                name=name,
                corpus_path=str(corpus),
                description=description,
                layers=layers,
                hidden=hidden,
                embedding=embedding,
                dropout=dropout,
                seq_len=seq_len,
                batch=batch,
                lr=lr,
                min_lr=lr / 15,
                weight_decay=weight_decay,
                max_steps=max_steps,
                max_time=max_time * 60 if max_time is not None else None,
                eval_every=eval_every,
                patience=patience,
                seed=seed,
                device=device,
                batching=batching,
                errors=errors,
            )
        for note in corpus_data.notes:
            typer.echo(f"charmix: {note}", err=True)
        trainer = Trainer(cfg, corpus_data, ckpt_dir)
        if resume:
            trainer.restore(ckpt)
        typer.echo(
            f"training {name}: {trainer.mcfg.layers}×{trainer.mcfg.hidden} LSTM, "
            f"{trainer.model.num_parameters():,} parameters, vocab {len(corpus_data.vocab)}, "
            f"{corpus_data.train.size:,} train / {corpus_data.val.size:,} val chars, "
            f"device {trainer.device}",
            err=True,
        )
        with TrainProgress(cfg, trainer.state) as progress:
            try:
                state = trainer.run(progress.update)
            except Interrupted as stop:
                progress.stop()
                typer.echo(
                    f"interrupted at step {trainer.state.step}: checkpoint saved to "
                    f"{stop.checkpoint}; continue with --resume",
                    err=True,
                )
                raise typer.Exit(130) from None
        info = export_checkpoint(ckpt_dir / "best.pt", out, full_val=corpus_data.val)
    except dataset.CorpusError as exc:
        _fail(str(exc))
    bits = info["val_loss"] / 0.6931471805599453
    typer.echo(
        f"{name}: best step {state.best_step} of {state.step}; val loss {info['val_loss']:.4f} "
        f"nats/char ({bits:.4f} bits/char) on the {dataset.VAL_SPLIT_NAME}; wrote {out}"
    )


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint written by charmix train.")],
    out: Annotated[Path | None, Opt(help="[default: models/NAME.onnx]")] = None,
    corpus: Annotated[
        Path | None,
        Opt(help="Recompute val loss on this corpus's last 10% (default: stored value)."),
    ] = None,
) -> None:
    """Export a training checkpoint to a charmix ONNX step model."""
    _need_torch()
    from charmix.export import dataset
    from charmix.export.onnx_export import export_checkpoint
    from charmix.export.train import load_checkpoint

    try:
        ckpt = load_checkpoint(checkpoint)
        name = ckpt["train_config"]["name"]
        val = None
        if corpus is not None:
            val = dataset.load_corpus(corpus, ckpt["vocab"], name=name).val
        target = out or Path("models") / f"{name}.onnx"
        info = export_checkpoint(checkpoint, target, full_val=val)
    except dataset.CorpusError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {target} (val loss {info['val_loss']:.4f} nats/char)")


def quantize(
    model: Annotated[Path, typer.Argument(help="A float32 charmix model (.onnx).")],
    out: Annotated[Path, Opt(help="Where to write the 8-bit model.")],
    corpus: Annotated[
        Path | None,
        Opt(help="Measure the 8-bit model's val loss on this corpus's last 10% (recommended)."),
    ] = None,
) -> None:
    """Write MODEL with 8-bit weights: about 2.3x faster in a six-model mix, ~1/3 the size.

    The file is only written if the 8-bit model stays faithful to the original (mean KL under
    2e-3 nats per character on text the original writes). See docs/model-format.md.
    """
    if importlib.util.find_spec("onnx") is None:
        _fail("quantize needs the onnx package: pip install 'charmix[train]' (or pip install onnx)")
    from charmix.daemon.model import ModelError, load_model
    from charmix.export import dataset
    from charmix.export.quantize import QuantizeError, quantize_file

    try:
        ids = None
        if corpus is not None:
            vocab = load_model(model).vocab
            ids = dataset.load_corpus(corpus, vocab).val
        report = quantize_file(model, out, ids)
    except (ModelError, QuantizeError, dataset.CorpusError) as exc:
        _fail(str(exc))
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
    app.command(rich_help_panel="Models")(_clean_ctrl_c(train))
    app.command(rich_help_panel="Models")(_clean_ctrl_c(export))
    app.command(rich_help_panel="Models")(_clean_ctrl_c(quantize))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(typer.run(train))
