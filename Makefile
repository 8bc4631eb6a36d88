# Clean Backdrop — set-up, demo, tests and benchmarks.
# Every target creates .venv and installs what it needs; nothing is installed by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU wheel of torch is installed first so pip does not pull a multi-GB CUDA build;
# override with `make TORCH=torch` (or a CUDA build) where you want another one.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench bench-quality bench-speed clean-out app screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## The main job: clean the bundled samples with the default parameters into out/samples/
demo: $(STAMP)
	mkdir -p out/samples
	$(BIN)/python -m backdrop batch samples -o out/samples --params params/default.yaml --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

## The Gradio app on http://127.0.0.1:7860 (--share, --host, --port: see app_gradio.py)
app: $(STAMP)
	$(BIN)/python app_gradio.py

## Refresh docs/screenshot-app.png from the browser test (needs Debian's chromium)
screenshot: $(STAMP)
	BACKDROP_REQUIRE_BROWSER=1 BACKDROP_SCREENSHOT=docs/screenshot-app.png $(BIN)/python -m pytest -q tests/test_app_browser.py

bench: bench-quality bench-speed

bench-quality: $(STAMP)
	$(BIN)/python bench/quality.py

bench-speed: $(STAMP)
	$(BIN)/python bench/speed.py

clean-out:
	rm -rf out bench/out
