"""`charmix train`: one corpus → a dedicated model, or several styles → one conditioned model.

torch is imported inside the command, after the corpora are read, so a bad corpus fails at once
and the rest of the CLI never loads it.

Where models go: a model is the user's, not the package's, so it is written to the user models
folder (`charmix.daemon.engine.modelformat.user_models_dir()`, the platform's user data
directory) unless `--out` says otherwise; the daemon finds it there by name, after the shipped
models, and a plain `charmix daemon` still loads exactly the shipped ones.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from charmix.daemon.common.fail import fail
from charmix.export.extra import need_torch

Opt = typer.Option
DEFAULT_STEPS = 3000


def train(
    corpus: Annotated[
        Path | None,
        typer.Argument(
            help="UTF-8 text file to learn the style of, or a .toml file listing styles "
            "(a \\[styles] table of NAME = \"corpus.txt\"). Omit it with --style.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        Opt(help="Model name: the file name and the OSC name (/charmix/weight/NAME).",
            show_default="the corpus file's stem, or 'styles' with --style"),
    ] = None,
    style: Annotated[
        list[str] | None,
        Opt("--style", help="NAME=CORPUS.txt: one style of a style-conditioned model; repeat "
            "for each (two or more).", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        Opt(help="Where to write the model.", show_default="USER_MODELS/NAME.onnx, see "
            "`charmix models --where`"),
    ] = None,
    description: Annotated[str, Opt(help="One line describing the corpus (stored in the "
                                         "model).")] = "",
    vocab: Annotated[
        Path | None,
        Opt(help="Shared vocabulary (JSON list of characters); see docs/model-format.md. "
            "A conditioned model has one vocabulary for all its styles.",
            show_default="the corpus's own characters; with --style: models/vocab.json"),
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
    embed_dropout: Annotated[
        float, Opt(min=0.0, max=0.9, help="Drop whole characters' embeddings (training only).")
    ] = 0.0,
    weight_dropout: Annotated[
        float, Opt(min=0.0, max=0.9, help="DropConnect on the recurrent weights (training only).")
    ] = 0.0,
    style_into: Annotated[
        str, Opt(help="Where a conditioned model's style enters: input (added to the character "
                 "embedding), gates (a per-style bias on every layer's gates) or both.")
    ] = "gates",
    seq_len: Annotated[int, Opt(min=8, help="Characters per truncated-BPTT chunk.")] = 128,
    batch: Annotated[
        int, Opt(min=1, help="Parallel streams per step (split evenly between styles).")
    ] = 64,
    lr: Annotated[float, Opt(min=0.0, help="Peak learning rate (AdamW, cosine decay).")] = 3e-3,
    weight_decay: Annotated[float, Opt(min=0.0, help="AdamW weight decay on matrices.")] = 0.1,
    max_steps: Annotated[
        int | None,
        Opt(min=1, help="Stop after this many steps; without --max-time also the length of the "
            "cosine schedule.", show_default=f"{DEFAULT_STEPS}, or no limit with --max-time"),
    ] = None,
    max_time: Annotated[
        float | None,
        Opt(min=0.05, help="Minutes for the whole run, evaluation and export included; the "
            "learning rate decays over them.", show_default="no limit"),
    ] = None,
    eval_every: Annotated[int, Opt(min=1, help="Steps between validation runs.")] = 100,
    eval_chars: Annotated[
        int, Opt(min=1000, help="Validation characters per evaluation (per style); the export "
                 "measures the whole split.")
    ] = 250_000,
    patience: Annotated[
        int, Opt(min=1, help="Stop after this many evaluations without a new best.")
    ] = 8,
    seed: Annotated[int, Opt(help="Seed for weights, data order and dropout.")] = 1337,
    device: Annotated[str, Opt(help="auto (CUDA when present), cpu, cuda, cuda:N.")] = "auto",
    batching: Annotated[
        str,
        Opt(help="stateful (streams with carried state, as the daemon runs) or random windows."),
    ] = "stateful",
    threads: Annotated[
        int | None, Opt(min=1, help="torch CPU threads.", show_default="torch's choice")
    ] = None,
    checkpoint_dir: Annotated[
        Path | None, Opt(help="Where checkpoints go.", show_default="checkpoints/NAME")
    ] = None,
    resume: Annotated[
        bool, Opt(help="Continue exactly from CHECKPOINT_DIR/last.pt (the budget is the whole "
                  "run's, resumes included).")
    ] = False,
) -> None:
    """Train a character LSTM on CORPUS (or one conditioned on several --style corpora) and
    export it as a charmix model.

    Validation is the last 10% of each corpus. Ctrl-C saves a checkpoint; --resume continues it.
    """
    started = time.perf_counter()
    need_torch()  # before anything imports torch: one line, not a traceback
    from charmix.daemon.engine.modelformat import (
        STYLE_VAL_LOSS_KEY,
        VOCAB_FILE,
        shipped_models_dir,
        user_models_dir,
    )
    from charmix.export import dataset
    from charmix.export import style_specs as styles  # no torch yet

    if batching not in ("stateful", "random"):
        fail(f"--batching must be stateful or random, not {batching!r}", 2)  # usage
    if style_into not in ("input", "gates", "both"):
        fail(f"--style-into must be input, gates or both, not {style_into!r}", 2)
    specs: list[tuple[str, Path]] = []
    try:
        if corpus is not None and corpus.suffix.lower() == ".toml":
            specs = styles.read_style_file(corpus)
        specs += [styles.parse_style(s) for s in style or []]
    except dataset.CorpusError as exc:
        fail(str(exc))
    if corpus is None and not specs and not resume:
        fail("Missing argument 'CORPUS' (or --style NAME=CORPUS.txt, repeated) "
              "(see charmix train --help)", 2)
    if specs and corpus is not None and corpus.suffix.lower() != ".toml":
        fail("give either a CORPUS or --style NAME=CORPUS.txt styles, not both", 2)
    name = name or ("styles" if specs else corpus.stem if corpus else None)
    if name is None:
        fail("--resume needs --name (or the corpus) to find the checkpoint", 2)
    ckpt_dir = checkpoint_dir or Path("checkpoints") / name
    out = out or user_models_dir() / f"{name}.onnx"
    if specs and vocab is None:
        vocab = shipped_models_dir() / VOCAB_FILE
    corpora = None
    if not resume:  # read the corpora before the slow torch import: a bad corpus fails at once
        try:
            shared = dataset.load_vocab(vocab) if vocab else None
            if specs:
                corpora = styles.load_styles(specs, shared, errors)
            else:
                corpora = [dataset.load_corpus(corpus, shared, errors, name)]
        except dataset.CorpusError as exc:
            fail(str(exc))
    import torch

    from charmix.export.onnx_export import export_checkpoint
    from charmix.export.progress import TrainProgress, clock
    from charmix.export.styles import StyleTrainer
    from charmix.export.train import Interrupted, TrainConfig, Trainer, load_checkpoint

    if threads:
        torch.set_num_threads(threads)
    budget = max_time * 60 if max_time is not None else None
    steps = max_steps or (10**9 if max_time is not None else DEFAULT_STEPS)
    try:
        if resume:
            ckpt = load_checkpoint(ckpt_dir / "last.pt")
            cfg = TrainConfig(**ckpt["train_config"])
            cfg.max_steps = max_steps or (cfg.max_steps if budget is None else 10**9)
            cfg.patience = patience
            cfg.max_time = budget if budget is not None else cfg.max_time
            shared = ckpt["vocab"]
            if cfg.styles:
                specs = [(s["name"], Path(s["corpus"])) for s in cfg.styles]
                corpora = styles.load_styles(specs, shared, cfg.errors)
            else:
                corpora = [dataset.load_corpus(Path(cfg.corpus_path), shared, cfg.errors, name)]
            if corpora[0].vocab != shared:
                fail(f"{ckpt_dir / 'last.pt'}: vocabulary differs from the corpus")
        else:
            cfg = TrainConfig(
                name=name,
                corpus_path=str(corpus) if corpus is not None and not specs else "",
                description=description,
                layers=layers,
                hidden=hidden,
                embedding=embedding,
                dropout=dropout,
                embed_dropout=embed_dropout,
                weight_dropout=weight_dropout,
                seq_len=seq_len,
                batch=batch,
                lr=lr,
                min_lr=lr / 15,
                weight_decay=weight_decay,
                max_steps=steps,
                max_time=budget,
                eval_every=eval_every,
                eval_chars=eval_chars,
                patience=patience,
                seed=seed,
                device=device,
                batching=batching,
                errors=errors,
                styles=[{"name": n, "corpus": str(p)} for n, p in specs] or None,
                style_into=style_into,
            )
        cfg.export_chars = sum(int(c.val.size) for c in corpora)
        for c in corpora:
            for note in c.notes:
                typer.echo(f"charmix: {note}", err=True)
        if cfg.styles:
            trainer: Trainer = StyleTrainer(cfg, corpora, ckpt_dir)
        else:
            trainer = Trainer(cfg, corpora[0], ckpt_dir)
        if resume:
            trainer.restore(ckpt)
        what = f"{len(corpora)} styles, " if cfg.styles else ""
        typer.echo(
            f"training {name}: {trainer.mcfg.layers}×{trainer.mcfg.hidden} LSTM, {what}"
            f"{trainer.model.num_parameters():,} parameters, vocab {len(corpora[0].vocab)}, "
            f"{sum(c.train.size for c in corpora):,} train / "
            f"{sum(c.val.size for c in corpora):,} val chars, device {trainer.device}"
            + (f", {max_time:g} min budget" if cfg.max_time else ""),
            err=True,
        )
        with TrainProgress(trainer) as progress:
            try:
                state = trainer.run(progress.update, started=started)
            except Interrupted as stop:
                progress.stop()
                typer.echo(
                    f"interrupted at step {trainer.state.step}: checkpoint saved to "
                    f"{stop.checkpoint}; continue with --resume",
                    err=True,
                )
                raise typer.Exit(130) from None
        full_val = [c.val for c in corpora] if cfg.styles else corpora[0].val
        info = export_checkpoint(ckpt_dir / "best.pt", out, full_val=full_val)
    except dataset.CorpusError as exc:
        fail(str(exc))
    bits = info["val_loss"] / 0.6931471805599453
    wall = time.perf_counter() - started
    per_style = ""
    if cfg.styles:
        import json

        losses = json.loads(info[STYLE_VAL_LOSS_KEY])
        per_style = " (" + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()) + ")"
    typer.echo(
        f"{name}: best step {state.best_step} of {state.step}; val loss {info['val_loss']:.4f} "
        f"nats/char ({bits:.4f} bits/char) on the {dataset.VAL_SPLIT_NAME}{per_style}; "
        f"wrote {out} after {clock(wall)}"
    )
