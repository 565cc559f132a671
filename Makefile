# Rossmann Store Sales + Oxford-IIIT Pet. `make` alone lists the targets.
#
# The Rossmann pipeline is a DAG of files under $(BUILD_DIR): each step runs only when its inputs
# (data, code, tuned parameters, FOLDS) are newer than its outputs.
#
#   dataset.json -> features (+ FOLDS pseudo-test windows) -> predictions/<model>.{oof,test}.parquet
#        -> submissions/submission.csv
#
# The data enters by content, not by date: `make data` (run by every target that reads data)
# rewrites dataset.json only when DATA_DIR or its files' fingerprint changes, and the features
# stage then decides from its own input hash whether anything must be rebuilt.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# SEED, THREADS, FOLDS, SEASONS and STORES are pipeline-wide: make passes each stage the same value.
# Their defaults are the Python ones (tests/test_makefile_defaults.py); a model's hyperparameters
# have none here (MLPConfig and models/lgbm/params.py hold them) and are passed only when set.
DATA_DIR  ?= data/raw##        competition data (zip or CSVs, optional external/)
BUILD_DIR ?= build##           everything the pipeline writes
SEED      ?= 42##              one seed for Python, numpy, torch, LightGBM and Optuna
STORES    ?= 60##              size of the synthetic dataset when one is generated
MODELS    ?= baseline lgbm mlp## models trained and ensembled
MODEL     ?= lgbm##            model for `make tune` / `make tune-worker` (mlp or lgbm)
TRIALS    ?= 20##              Optuna trials to add in this run
TIMEOUT   ?= 0##               Optuna time limit in seconds (0: none)
STORAGE   ?= sqlite:///$(BUILD_DIR)/tuning/optuna.db## Optuna storage URL
STUDY     ?= rossmann-$(MODEL)## Optuna study name
TUNE_SEEDS ?= 1##              seeds each trial averages over (2: half the seed noise's variance)
TUNE_WINDOWS ?=##              windows a study averages over, e.g. w2 (empty: all)
TUNE_FIX  ?=##                 parameters a study holds fixed, e.g. num_boost_round=600 learning_rate=0.05
FOLDS     ?= 1##               recent pseudo-test windows every model is scored on (each shaped like the test)
SEASONS   ?= 1##               same-season windows: the test's dates 1, 2, ... years back (52 weeks)
WINDOW_GAP ?=##                days from a window's train to its start (empty: the test's; 0: as Kaggle's full train)
THREADS   ?= 2##               CPU threads per model (1 when another job shares a 2-core machine)
TEST_JOBS ?= 2##               `make test`'s worker processes (pytest-xdist; each builds its own session fixtures)
MLP_MEMBERS ?=##               MLP members averaged, first fits of seeds SEED, SEED+1, ... (empty: MLPConfig's)
MLP_REFITS ?=##                each member's final networks, refits of its first fit: all, recent (empty: MLPConfig's)
MLP_PARAMS ?=##                a JSON file of MLPConfig settings over the defaults and tuning (a change to try)
LGBM_PARAMS ?=##               a JSON file of LightGBM parameters over the defaults and tuning (a change to try)
BACKTEST_FOLDS ?= 9##          recent windows of `make backtest` (9 x 48 days: more than a year)
BACKTEST_SEASONS ?= 2##        same-season windows of `make backtest`
BACKTEST_SEEDS ?= 42 43##      seeds of `make backtest` (their spread is the noise a change must beat)
AGAINST   ?=##                 `make backtest AGAINST=<other BUILD_DIR>`: paired difference against its backtest
REALTEST_CUTS ?= 2015-05-08 2014-06-20 2014-09-19 2015-03-27## train ends of `make realtests`' real tests
MSG       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo manual) $(MODELS)## upload message
ALLOW_SYNTHETIC ?=##         1: let `make upload` send a submission made from synthetic data
KAGGLE    ?= $(CURDIR)/.venv/bin/kaggle## kaggle executable used by upload / leaderboard
PETS_DIR  ?= data/pets##        folder holding oxford-iiit-pet/ (or <Breed>_<n>.jpg files)
TRACKING  ?= 1##               log every pipeline command as an MLflow run in MLFLOW_TRACKING_URI, else runs/mlflow.db (0: off)
LAST      ?= 20##              runs `make runs` lists
COMMAND   ?=##                 `make runs`: only runs of this command (submit, backtest, tune, bench; pets, pets-cv)
A         ?=##                 `make runs-diff`: the first run (id or its start; default: the second newest)
B         ?=##                 `make runs-diff`: the second run (default: the newest)
UI_PORT   ?= 5000##            port of `make runs-ui`
EXPERIMENT ?= rossmann##        `make runs`, `make runs-diff`: rossmann (submit, backtest, tune, bench) or pets (pets, pets-cv)
EMBEDDINGS_DIR ?= $(BUILD_DIR)/reports/embeddings## where `make embeddings` writes the MLP's embedding maps
EMBEDDINGS_METHOD ?= pca##     2-D projection of the embedding maps: pca or tsne

VENV  := .venv
PY    := $(VENV)/bin/python
SETUP := $(VENV)/.setup-done
export PYTHONPATH := $(CURDIR)
export KAGGLE
export TRACKING

DATASET     := $(BUILD_DIR)/dataset.json
FEATURES_META := $(BUILD_DIR)/features/meta.json
FEATURES    := $(BUILD_DIR)/features/train.parquet
FOLDS_STAMP := $(BUILD_DIR)/features/folds.txt
PREDICTIONS := $(foreach m,$(MODELS),$(BUILD_DIR)/predictions/$(m).test.parquet)
SUBMISSION  := $(BUILD_DIR)/submissions/submission.csv

.PHONY: FORCE help setup data features train $(addprefix train-,$(MODELS)) lr-find tune tune-worker ensemble \
        submit report upload leaderboard backtest realtests bench bench-readme test lint clean runs runs-diff runs-ui \
        embeddings notebooks

help: ## list the targets and variables
	@echo "Targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables (make TARGET VAR=value):"
	@awk '/^[A-Z_]+ +\?=.*##/ {v = $$0; sub(/^[A-Z_]+ +\?= */, "", v); sub(/ *##.*/, "", v); \
	      h = $$0; sub(/^[^#]*## */, "", h); printf "  %-10s %s (default: %s)\n", $$1, h, v}' $(MAKEFILE_LIST)

# --- set-up -------------------------------------------------------------------------------------
$(SETUP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

setup: $(SETUP) ## create .venv with the pinned dependencies (quick when done)

# --- Rossmann pipeline --------------------------------------------------------------------------
# Runs every time (a content hash of the data is cheap); dataset.json changes only with the data.
$(DATASET): $(SETUP) FORCE
	$(PY) -m competition.fetch --data-dir $(DATA_DIR) --seed $(SEED) --stores $(STORES) --build-dir $(BUILD_DIR)

data: $(DATASET) ## make sure DATA_DIR has data (Kaggle download with credentials, else SYNTHETIC); record it

# $(call stamp,FILE,TEXT): write TEXT to FILE only when it differs, so that FILE's timestamp (and
# so what depends on it) moves only when the setting really changes.
stamp = @mkdir -p $(dir $1); echo "$2" | cmp -s - $1 || echo "$2" > $1

# Rewritten only when FOLDS, SEASONS or WINDOW_GAP changes, so that new windows rebuild what follows.
$(FOLDS_STAMP): FORCE
	$(call stamp,$@,$(FOLDS) $(SEASONS) $(WINDOW_GAP))

# The features stage runs when the dataset, its code, FOLDS, SEASONS or WINDOW_GAP changes, and
# rewrites the tables only when its input hash (data fingerprint + code + FOLDS + SEASONS +
# WINDOW_GAP) changed; it always touches meta.json. The models follow train.parquet, so the same
# data under another path retrains nothing.
FEATURES_CMD = $(PY) -m features --data-dir $(DATA_DIR) --build-dir $(BUILD_DIR) --folds $(FOLDS) --seasons $(SEASONS) \
               --jobs $(THREADS) $(if $(WINDOW_GAP),--gap $(WINDOW_GAP))
$(FEATURES_META): $(SETUP) $(DATASET) $(wildcard core/*.py competition/*.py features/*.py) $(FOLDS_STAMP)
	$(FEATURES_CMD)

$(FEATURES): $(FEATURES_META)
	@test -f $@ || $(FEATURES_CMD)

features: $(FEATURES) ## features of the test and of FOLDS pseudo-test windows: BUILD_DIR/features/ (cached)

# Each model's command-line settings; SEED, THREADS and the MLP_* all change the predictions.
TUNE_ARGS := --threads $(THREADS) --trial-seeds $(TUNE_SEEDS) $(if $(TUNE_WINDOWS),--windows $(TUNE_WINDOWS)) \
             $(if $(TUNE_FIX),--fix $(TUNE_FIX))
MODEL_ARGS_baseline := --seed $(SEED)
MODEL_ARGS_lgbm     := $(strip --seed $(SEED) --threads $(THREADS) $(if $(LGBM_PARAMS),--params $(LGBM_PARAMS)))
MODEL_ARGS_mlp      := $(strip --seed $(SEED) --threads $(THREADS) $(if $(MLP_MEMBERS),--members $(MLP_MEMBERS)) \
                       $(if $(MLP_REFITS),--refits $(MLP_REFITS)) $(if $(MLP_PARAMS),--params $(MLP_PARAMS)))

PARAMS_FILE_lgbm := $(LGBM_PARAMS)
PARAMS_FILE_mlp  := $(MLP_PARAMS)
# One rule per model: it runs when the features, its code, its tuned parameters or its settings
# change (the settings file is rewritten only when they do, like FOLDS_STAMP), and retrains only
# when what the model reads changed: its columns of the tables, its settings, its code
# (models/inputs.py; a family added for another model keeps its predictions).
define MODEL_RULE
$(BUILD_DIR)/settings/$(1).txt: FORCE
	$$(call stamp,$$@,$(MODEL_ARGS_$(1)))
$(BUILD_DIR)/predictions/$(1).test.parquet: $(FEATURES) $(wildcard models/common.py models/inputs.py models/$(1).py models/$(1)/*.py) \
                                            $(wildcard $(BUILD_DIR)/tuning/$(1).json) $(BUILD_DIR)/settings/$(1).txt \
                                            $(wildcard $(PARAMS_FILE_$(1)))
	$(PY) -m models.$(1) --build-dir $(BUILD_DIR) $(MODEL_ARGS_$(1))
train-$(1): $(BUILD_DIR)/predictions/$(1).test.parquet
endef
$(foreach m,$(MODELS),$(eval $(call MODEL_RULE,$(m))))

train: $(PREDICTIONS) ## every model in MODELS on each window, then on all train for the test
train-baseline: ## median Sales per store x day of week x promo
train-lgbm: ## LightGBM on log Sales with an RMSPE feval
train-mlp: ## entity-embedding MLP in PyTorch

lr-find: $(FEATURES) ## MLP learning-rate finder: BUILD_DIR/models/mlp/lr_find.png
	$(PY) -m models.mlp --build-dir $(BUILD_DIR) --seed $(SEED) --lr-find

# Rewritten only when MODELS changes, so that a new MODELS blends again.
$(BUILD_DIR)/settings/ensemble.txt: FORCE
	$(call stamp,$@,$(MODELS))

$(SUBMISSION): $(PREDICTIONS) $(wildcard ensembling/*.py) $(BUILD_DIR)/settings/ensemble.txt
	$(PY) -m ensembling --build-dir $(BUILD_DIR) --data-dir $(DATA_DIR) --models $(MODELS)

ensemble: $(SUBMISSION) ## blend fitted on the out-of-window predictions: submissions/ensemble.csv, submission.csv

# Run tracking (core/tracking.py, submissions/track.py): the settings a tracked run records, and the
# command that logs it from the build's files (none with TRACKING=0). A failure there warns and never
# fails the target (-).
TRACK_SETTINGS = --setting SEED=$(SEED) --setting THREADS=$(THREADS) --setting FOLDS=$(FOLDS) --setting SEASONS=$(SEASONS) \
                 --setting "MODELS=$(MODELS)" $(if $(WINDOW_GAP),--setting WINDOW_GAP=$(WINDOW_GAP)) \
                 $(if $(MLP_MEMBERS),--setting MLP_MEMBERS=$(MLP_MEMBERS)) \
                 $(if $(MLP_REFITS),--setting "MLP_REFITS=$(MLP_REFITS)")
TRACK_CMD = $(if $(filter 0 off false no,$(TRACKING)),:,$(PY) -m submissions.track)
TRACK = -@$(TRACK_CMD)

submit: $(SUBMISSION) ## data -> features -> train -> ensemble -> BUILD_DIR/submissions/submission.csv
	@$(PY) -m submissions.summary --build-dir $(BUILD_DIR) --data-dir $(DATA_DIR)
	$(TRACK) submit --build-dir $(BUILD_DIR) --data-dir $(DATA_DIR) $(TRACK_SETTINGS)

report: $(SUBMISSION) $(if $(filter mlp,$(MODELS)),$(BUILD_DIR)/reports/embeddings/embeddings.json) ## pseudo-test report: BUILD_DIR/reports/report.md with plots
	$(PY) -m ensembling.report --build-dir $(BUILD_DIR)

# The embedding maps read a trained build and train nothing: `make embeddings` on a finished build
# (even one made by other code, or read-only with EMBEDDINGS_DIR elsewhere) never retrains it.
embeddings: $(SETUP) ## 2-D maps of the trained MLP's embeddings (states vs the map, stores, weekdays, months): EMBEDDINGS_DIR
	$(PY) -m models.mlp --build-dir $(BUILD_DIR) --embeddings $(EMBEDDINGS_DIR) --embeddings-method $(EMBEDDINGS_METHOD) \
	    --seed $(SEED)

# The report's copy, redrawn when the MLP is retrained.
$(BUILD_DIR)/reports/embeddings/embeddings.json: $(BUILD_DIR)/predictions/mlp.test.parquet models/mlp/embeddings.py
	$(PY) -m models.mlp --build-dir $(BUILD_DIR) --embeddings $(dir $@) --embeddings-method $(EMBEDDINGS_METHOD) \
	    --seed $(SEED)

# Uploading never builds or trains: without BUILD_DIR/submissions/submission.csv it says how to make
# one and exits 2 (an old DATA_DIR or a changed file must not retrain every model on the way).
upload: $(SETUP) ## upload BUILD_DIR's existing submission.csv with the kaggle CLI (MSG="..."); never builds
	$(PY) -m submissions.upload --build-dir $(BUILD_DIR) --message "$(MSG)" $(if $(ALLOW_SYNTHETIC),--allow-synthetic)

leaderboard: $(SETUP) ## this account's Kaggle scores, beside each upload's expected test RMSPE
	$(PY) -m submissions.leaderboard --build-dir $(BUILD_DIR)

# Where changes are decided (the rule is in ensembling/backtest.py): every seed's build, then the
# table, and with AGAINST the paired difference against another BUILD_DIR's backtest.
backtest: ## windows across a year, per seed: BUILD_DIR/backtest/results.md (AGAINST=...: compare.md, the verdict)
	@set -e; for s in $(BACKTEST_SEEDS); do \
	    $(MAKE) --no-print-directory ensemble BUILD_DIR=$(BUILD_DIR)/backtest/seed$$s SEED=$$s \
	        FOLDS=$(BACKTEST_FOLDS) SEASONS=$(BACKTEST_SEASONS); \
	done
	$(PY) -m ensembling.backtest --build-dir $(BUILD_DIR)/backtest $(if $(AGAINST),--against $(AGAINST)/backtest)
	@for s in $(BACKTEST_SEEDS); do \
	    $(TRACK_CMD) backtest --build-dir $(BUILD_DIR)/backtest/seed$$s --data-dir $(DATA_DIR) $(TRACK_SETTINGS) \
	        --setting SEED=$$s --setting FOLDS=$(BACKTEST_FOLDS) --setting SEASONS=$(BACKTEST_SEASONS) || true; \
	done

# Every model's settings, so that `make realtests` runs the very pipeline `make submit` runs.
PIPELINE_ARGS = SEED=$(SEED) THREADS=$(THREADS) "MODELS=$(MODELS)" $(if $(MLP_MEMBERS),MLP_MEMBERS=$(MLP_MEMBERS)) \
                $(if $(MLP_REFITS),"MLP_REFITS=$(MLP_REFITS)")
realtests: $(SETUP) ## the pipeline on real tests cut from DATA_DIR: each window scheme's report vs the real score
	$(PY) -m ensembling.realtests --data-dir $(DATA_DIR) --out $(BUILD_DIR)/realtests --cuts $(REALTEST_CUTS) \
	    --make-args FOLDS=4 SEASONS=2 $(PIPELINE_ARGS)

tune: $(FEATURES) ## Optuna study (MODEL, TRIALS, TIMEOUT, STORAGE, STUDY); resumes; best -> tuning/MODEL.json
	$(PY) -m models.tune --model $(MODEL) --trials $(TRIALS) --timeout $(TIMEOUT) --storage "$(STORAGE)" \
	    --study "$(STUDY)" --build-dir $(BUILD_DIR) --seed $(SEED) $(TUNE_ARGS)

tune-worker: $(FEATURES) ## join an existing study as one more worker (STORAGE=postgresql+psycopg2://...)
	$(PY) -m models.tune --model $(MODEL) --trials $(TRIALS) --timeout $(TIMEOUT) --storage "$(STORAGE)" \
	    --study "$(STUDY)" --build-dir $(BUILD_DIR) --seed $(SEED) $(TUNE_ARGS) --worker

bench: $(SETUP) | data ## time, memory and accuracy of every stage + scaling: BUILD_DIR/bench/results.{json,md}
	$(PY) -m models.bench --data-dir $(DATA_DIR) --build-dir $(BUILD_DIR) --seed $(SEED) --models $(MODELS) \
		$(foreach m,$(MODELS),--model-args "$(m)=$(MODEL_ARGS_$(m))")
	$(TRACK) bench --build-dir $(BUILD_DIR) --data-dir $(DATA_DIR) $(TRACK_SETTINGS)

bench-readme: ## regenerate README.md's performance section from the last `make bench`
	$(PY) -m models.bench --build-dir $(BUILD_DIR) --readme README.md

# --- tracked runs (MLflow) ----------------------------------------------------------------------
runs: $(SETUP) ## the last LAST tracked runs: commit, settings that differ, every model's score, estimate, Kaggle score
	@$(PY) -m submissions.runs --experiment $(EXPERIMENT) list --last $(LAST) $(if $(COMMAND),--command $(COMMAND))

runs-diff: $(SETUP) ## two tracked runs side by side, settings and scores (A=<run> B=<run>; default the newest two)
	@$(PY) -m submissions.runs --experiment $(EXPERIMENT) diff $(A) $(B)

# The UI is the full mlflow package, which pins an older pyarrow than the pipeline: it gets a venv of
# its own (requirements-ui.txt), installed on the first `make runs-ui`.
UI_VENV := .venv-ui
$(UI_VENV)/.setup-done: requirements-ui.txt
	@test -x $(UI_VENV)/bin/python || python3 -m venv $(UI_VENV)
	$(UI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-ui.txt
	@touch $@

runs-ui: $(SETUP) $(UI_VENV)/.setup-done ## the MLflow UI on the run store: http://127.0.0.1:UI_PORT
	$(PY) -m submissions.runs ui --mlflow $(UI_VENV)/bin/mlflow --port $(UI_PORT)

# --- checks -------------------------------------------------------------------------------------
# OpenMP's wait policy (LightGBM, torch). Threads that spin a moment while they wait (OpenMP's
# default, which the pipeline keeps) train much faster on free cores and crawl when another job
# holds a core (docs/RESULTS.md, "OpenMP: spinning threads train twice as fast"), so the tests,
# which run beside other jobs, wait passively. On a shared machine pass THREADS=1 or
# OMP_WAIT_POLICY=PASSIVE.
test: $(SETUP) ## run the test suite in TEST_JOBS processes (real-data tests run where ../shared exists)
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} $(PY) -m pytest -q -n $(TEST_JOBS)

# Executed top to bottom on small data (synthetic Rossmann unless DATA_DIR holds Kaggle's data; a few
# photos per breed from PETS_DIR), with their outputs and HTML. `make test` runs them too.
notebooks: $(SETUP) ## execute notebooks/*.ipynb on small data: BUILD_DIR/notebooks/{rossmann,pets}.{ipynb,html}
	DATA_DIR=$(DATA_DIR) PETS_DIR=$(PETS_DIR) SEED=$(SEED) THREADS=$(THREADS) NOTEBOOK_DIR=$(BUILD_DIR)/notebooks \
	    OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} $(PY) -m core.notebooks --out $(BUILD_DIR)/notebooks \
	    notebooks/rossmann.ipynb notebooks/pets.ipynb

lint: $(SETUP) ## ruff (pinned in requirements.txt, configured in pyproject.toml)
	$(VENV)/bin/ruff check .

clean: ## delete BUILD_DIR (never DATA_DIR: raw data is immutable)
	rm -rf $(BUILD_DIR)

-include pets/pets.mk
pets pets-cv pets-preview pets-heatmap: $(SETUP)
