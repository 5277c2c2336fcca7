# charmix — `make run` starts the daemon with the shipped models, `make test` runs the tests.
# Both create .venv on first use. torch (only for training) is the CPU wheel, installed before the
# project so that the `train` extra never pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.charmix-installed
TORCH  ?= torch==2.13.0
SYSBINS := oscsend oscdump pd Xvfb xdotool tmux convert systemd-analyze chromium ip
APT_PACKAGES := liblo-tools puredata-core xvfb xdotool tmux imagemagick systemd chromium iproute2

.PHONY: run test venv sysdeps lint docs bench models models-int8 models-readme styles wheel clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH) || $(BIN)/pip install -q torch --index-url https://download.pytorch.org/whl/cpu
	$(BIN)/pip install -q -e '.[train,dev]'
	touch $(STAMP)

venv: $(STAMP)

## The daemon with the six shipped models; the text it writes scrolls in this terminal (Ctrl-C stops).
run: $(STAMP)
	$(BIN)/charmix daemon --echo --score demo

## The whole test suite (installs the system tools the tests drive: liblo, Pure Data, Xvfb, xdotool,
## Chromium for the web page's tests), after the rooms' import contracts (docs/architecture.md).
test: $(STAMP) sysdeps
	$(BIN)/lint-imports
	$(BIN)/pytest

sysdeps:
	@missing=""; for b in $(SYSBINS); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for the tests (missing:$$missing)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

## ruff's lint rules (pyproject.toml). The code is not run through `ruff format`: the address table
## and the test tables are laid out by hand, one entry a line, and read better that way.
lint: $(STAMP)
	$(BIN)/ruff check .

## Regenerate docs/osc.md from the address table (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m charmix.daemon.protocol.docs > docs/osc.md

## The speed figures of docs/performance.md for this machine's CPU class (AVX-512, AVX2, other),
## before and after the bound step path, in one run each (about 15 minutes): the daemon's table,
## then the voices' (1 to 16); the page's other CPU classes are left as they are.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_daemon.py --compare --docs docs/performance.md
	$(BIN)/python benchmarks/bench_voices.py --compare --docs docs/performance.md

wheel: $(STAMP)
	$(BIN)/python -m build --wheel

## Retrain the six shipped models from ../shared/corpora (several hours on a 2-core CPU). Shakespeare
## uses small batches (32 x 64 characters: four times the updates per character, which is what a
## CPU-sized budget needs); the other five 32 x 128. All six use DropConnect on the recurrent
## weights (--weight-dropout). Each run writes the float32 model to models/fp32/NAME.onnx;
## `charmix quantize` then writes the shipped 8-bit models/NAME.onnx.
CORPORA ?= ../shared/corpora
MODEL_NAMES := shakespeare austen nietzsche bible linux latex
TRAIN = $(BIN)/charmix train --vocab models/vocab.json --layers 2 --hidden 256 --embedding 64 \
	--weight-decay 0.1 --seed 1337 --out models/fp32/$(1).onnx --name $(1)
SMALL := --batch 32 --seq-len 64 --lr 2e-3 --eval-every 1000 --patience 1000
RETRAIN := --batch 32 --seq-len 128 --lr 2e-3 --eval-every 500 --patience 1000
models: $(STAMP)
	$(call TRAIN,shakespeare) $(SMALL) $(CORPORA)/shakespeare.txt --dropout 0.15 --weight-dropout 0.15 \
	  --max-steps 24000 \
	  --description "Shakespeare's plays (tiny-shakespeare, the char-rnn benchmark)"
	$(call TRAIN,austen) $(RETRAIN) $(CORPORA)/austen.txt --dropout 0.2 --weight-dropout 0.15 \
	  --max-steps 3000 \
	  --description "Jane Austen, Pride and Prejudice"
	$(call TRAIN,nietzsche) $(RETRAIN) $(CORPORA)/nietzsche.txt --dropout 0.25 --weight-dropout 0.15 \
	  --max-steps 3000 \
	  --description "Nietzsche, Beyond Good and Evil (Zimmern), lower-cased"
	$(call TRAIN,bible) $(RETRAIN) $(CORPORA)/bible.txt --dropout 0.1 --weight-dropout 0.1 \
	  --max-steps 2500 \
	  --description "The King James Bible, chapter:verse numbered"
	$(call TRAIN,linux) $(RETRAIN) $(CORPORA)/linux.txt --dropout 0.1 --weight-dropout 0.1 \
	  --max-steps 2500 \
	  --description "Linux 6.1 kernel C source (kernel/), GPL-2.0"
	$(call TRAIN,latex) $(RETRAIN) $(CORPORA)/latex.txt --dropout 0.1 --weight-dropout 0.1 \
	  --max-steps 2500 \
	  --description "LaTeX source of the Stacks Project, GFDL 1.2"
	$(MAKE) models-int8

## The style-conditioned model models/styles.onnx: one LSTM for all six corpora, conditioned on a
## style vector (docs/model-format.md), trained for STYLES_MINUTES of wall time on one core (the
## learning rate decays over the budget; evaluation and export fit inside it), then quantised.
## 2x128 because a step of S + 1 = 7 rows must cost at most a third of the six dedicated models
## (benchmarks/bench_styles.py: 2x256 costs about half, 2x192 about a third under load, more
## when the machine is quiet); the style enters where benchmarks/styles_ablation.py said.
STYLES_MINUTES ?= 78
STYLES_HIDDEN ?= 128
STYLE_INTO ?= gates
styles: $(STAMP)
	$(BIN)/charmix train --name styles $(foreach n,$(MODEL_NAMES),--style $(n)=$(CORPORA)/$(n).txt) \
	  --vocab models/vocab.json --layers 2 --hidden $(STYLES_HIDDEN) --embedding 64 \
	  --style-into $(STYLE_INTO) --dropout 0.1 --weight-decay 0.1 --batch 60 --seq-len 128 \
	  --lr 3e-3 --eval-every 150 --eval-chars 50000 --patience 1000 --seed 1337 --threads 1 \
	  --max-time $(STYLES_MINUTES) --checkpoint-dir checkpoints/styles --out models/fp32/styles.onnx \
	  --description "Six styles: the corpora of the six shipped models"
	$(BIN)/charmix quantize models/fp32/styles.onnx --out models/styles.onnx --corpus $(CORPORA)

## The shipped 8-bit models from the float32 ones in models/fp32 (a few seconds each), with the
## 8-bit models' own val loss measured on the corpora.
models-int8: $(STAMP)
	for name in $(MODEL_NAMES); do \
	  $(BIN)/charmix quantize models/fp32/$$name.onnx --out models/$$name.onnx \
	    --corpus $(CORPORA)/$$name.txt || exit 1; \
	done
	$(MAKE) models-readme

## Refresh the training table in models/README.md from the models' metadata (a test compares them).
models-readme: $(STAMP)
	$(BIN)/python -c 'import pathlib, re, subprocess; p = pathlib.Path("models/README.md"); \
	t = subprocess.run(["$(BIN)/charmix", "models", "--markdown"], capture_output=True, text=True, check=True).stdout; \
	p.write_text(re.sub(r"(<!-- table: charmix models --markdown -->\n).*?(<!-- end table -->)", lambda m: m[1] + t + m[2], p.read_text(), flags=re.S))'

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
