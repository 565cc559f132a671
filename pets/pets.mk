# Pets CNN (issue 7): included by the top-level Makefile, or run alone with `make -f pets/pets.mk pets`.
# Each rule line carries `## help` for `make help`.
PY ?= .venv/bin/python
PETS_DIR ?= data/pets
BUILD_DIR ?= build
SEED ?= 42
IMAGE ?=
CLASS ?=
PETS_OUT = $(BUILD_DIR)/pets
# OpenMP threads that spin while waiting made a training step several times slower on a shared
# 2-core CPU (pets/RESULTS.md); passive waiting costs nothing when the CPU is free.
PETS_ENV ?= OMP_WAIT_POLICY=PASSIVE
# Extra flags for pets.train, e.g. PETS_ARGS=--no-refit-all (halves the time: the saved model is
# then the scored 80% one) or PETS_ARGS="--preset gpu".
PETS_ARGS ?=
# Cross-validation (pets/RESULTS.md): backbones x modes (probe, head, finetune), stratified folds.
PETS_CV_BACKBONES ?= efficientnet_lite0 efficientnet_lite1 efficientnet_lite2
PETS_CV_MODES ?= probe
PETS_CV_FOLDS ?= 5

.PHONY: pets pets-cv pets-preview pets-heatmap

pets: ## Train the pet-breed CNN on PETS_DIR: $(BUILD_DIR)/pets/model.pt, metrics.json, heatmaps/ (12 min on 2 CPU cores, 16 min on one)
	$(PETS_ENV) $(PY) -m pets.train --pets-dir "$(PETS_DIR)" --build-dir "$(BUILD_DIR)" --seed $(SEED) $(PETS_ARGS)

pets-cv: ## Cross-validated accuracy of PETS_CV_BACKBONES x PETS_CV_MODES ($(PETS_CV_FOLDS) folds): $(BUILD_DIR)/pets/cv/table.md
	$(PETS_ENV) $(PY) -m pets.cv --pets-dir "$(PETS_DIR)" --backbone $(PETS_CV_BACKBONES) --mode $(PETS_CV_MODES) --folds $(PETS_CV_FOLDS) --seed $(SEED) --out "$(PETS_OUT)/cv"

pets-preview: ## Save the 3x3 augmentation grids (zero vs reflection padding) and the hand-made convolution
	$(PETS_ENV) $(PY) -m pets.preview --pets-dir "$(PETS_DIR)" --out "$(PETS_OUT)/preview" --seed $(SEED)

pets-heatmap: ## Heatmaps (average activation, Grad-CAM) for IMAGE=photo.jpg [CLASS=breed] with the trained model
	@test -n "$(IMAGE)" || { echo "error: no photo given; fix: make pets-heatmap IMAGE=path/to/photo.jpg [CLASS=breed]" >&2; exit 2; }
	$(PETS_ENV) $(PY) -m pets.explain --model "$(PETS_OUT)/model.pt" --image "$(IMAGE)" $(if $(CLASS),--class "$(CLASS)") --out "$(PETS_OUT)/heatmaps"
