# Clean Backdrop — set-up, demo, tests and benchmarks.
# Every target creates .venv and installs what it needs; nothing is installed by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU wheel of torch is installed first so pip does not pull a multi-GB CUDA build;
# override with `make TORCH=torch` (or a CUDA build) where you want another one.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: fresh-check install birefnet demo test bench bench-quality bench-speed clean-out app screenshot lab readme-images screenshot-lab strip-notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name backdrop --display-name "Python (backdrop)"
	touch $(STAMP)

install: $(STAMP)

## The optional BiRefNet-Portrait segmenter's packages, against the torch already installed: torch
## is pinned (never swapped for a CUDA build), torchvision is the build made for it, from its index
birefnet: $(STAMP)
	$(BIN)/python -m backdrop.segment.install

# A second transformers for the tests: BiRefNet's loader must work on 4.x as well as on 5.x (the
# [birefnet] extra allows >=4.40). Installed beside the venv, not in it; the tests put it first on
# PYTHONPATH in a subprocess.
TF4      := $(VENV)/transformers4
TF4_REQS := "transformers==4.57.6" "huggingface_hub>=0.34,<1.0" "tokenizers>=0.22,<=0.23.0"
$(TF4)/.installed: | $(STAMP)
	rm -rf $(TF4)
	$(BIN)/python -m pip install --quiet --no-deps --target $(TF4) $(TF4_REQS)
	touch $@

## The main job: clean the bundled samples with the default parameters into out/samples/
demo: $(STAMP)
	mkdir -p out/samples
	$(BIN)/python -m backdrop batch samples -o out/samples --params params/default.yaml --overwrite

test: $(STAMP) $(TF4)/.installed
	$(BIN)/python -m pytest -q

## A fresh clone of the committed HEAD in a temp folder runs the README's two set-up commands as written
## (make demo: new .venv, install, clean the samples; make test) and checks the outputs; .ci/run runs it
fresh-check:
	.ci/fresh-check

## The Gradio app on http://127.0.0.1:7860 (--share, --host, --port: see app_gradio.py)
app: $(STAMP)
	$(BIN)/python app_gradio.py

## Refresh docs/screenshot-app.png from the browser test (needs Debian's chromium)
screenshot: $(STAMP)
	BACKDROP_REQUIRE_BROWSER=1 BACKDROP_SCREENSHOT=docs/screenshot-app.png $(BIN)/python -m pytest -q tests/test_app_browser.py

## JupyterLab on notebooks/: tune.ipynb (sliders, histograms, Save) and batch.ipynb (the papermill report)
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[notebooks]"
	$(BIN)/python -m ipykernel install --sys-prefix --name backdrop --display-name "Python (backdrop)"
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LABFLAGS)

## Notebooks are committed without outputs (tests/test_notebooks.py checks): strip them after a Lab session
strip-notebooks: $(STAMP)
	$(BIN)/python -m jupyter nbconvert --clear-output --inplace --log-level=WARN \
	  --ClearMetadataPreprocessor.enabled=True --ClearMetadataPreprocessor.preserve_cell_metadata_mask=tags \
	  --ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec \
	  --ClearMetadataPreprocessor.preserve_nb_metadata_mask=language_info notebooks/*.ipynb

## Before/after pairs of the bundled samples for the README (docs/before-after-*.jpg), from make demo's real outputs
readme-images: demo
	$(BIN)/python docs/make_readme_images.py

## Refresh docs/screenshot-tune.png: JupyterLab in headless Chromium running tune.ipynb (needs Debian's chromium)
screenshot-lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[notebooks]"
	$(BIN)/python docs/screenshot_lab.py docs/screenshot-tune.png

bench: bench-quality bench-speed

bench-quality: $(STAMP)
	$(BIN)/python bench/quality.py

bench-speed: $(STAMP)
	$(BIN)/python bench/speed.py

clean-out:
	rm -rf out bench/out
