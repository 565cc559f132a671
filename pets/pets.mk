# Pets CNN (issue 7): included by the top-level Makefile, or run alone with `make -f pets/pets.mk pets`.
# Each rule line carries `## help` for `make help`.
PY ?= .venv/bin/python
PETS_DIR ?= data/pets
BUILD_DIR ?= build
SEED ?= 42
IMAGE ?=
CLASS ?=
PETS_OUT = $(BUILD_DIR)/pets

.PHONY: pets pets-preview pets-heatmap

pets: ## Train the pet-breed CNN on PETS_DIR: $(BUILD_DIR)/pets/model.pt, metrics.json, heatmaps/ (~12 min on CPU)
	$(PY) -m pets.train --pets-dir "$(PETS_DIR)" --build-dir "$(BUILD_DIR)" --seed $(SEED)

pets-preview: ## Save the 3x3 augmentation grids (zero vs reflection padding) and the hand-made convolution
	$(PY) -m pets.preview --pets-dir "$(PETS_DIR)" --out "$(PETS_OUT)/preview" --seed $(SEED)

pets-heatmap: ## Heatmaps (average activation, Grad-CAM) for IMAGE=photo.jpg [CLASS=breed] with the trained model
	@test -n "$(IMAGE)" || { echo "error: no photo given; fix: make pets-heatmap IMAGE=path/to/photo.jpg [CLASS=breed]" >&2; exit 2; }
	$(PY) -m pets.heatmap --model "$(PETS_OUT)/model.pt" --image "$(IMAGE)" $(if $(CLASS),--class "$(CLASS)") --out "$(PETS_OUT)/heatmaps"
