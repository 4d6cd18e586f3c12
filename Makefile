# The two entry points of the README. Both create ./.venv and install everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_WHEEL_PIN := torch==2.13.0

.PHONY: setup demo test test-all lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned (CPU wheel), so that nothing later pulls an unpinned CUDA build.
setup: $(BIN)/python
	$(BIN)/pip install -q $(TORCH_WHEEL_PIN)
	$(BIN)/pip install -q -e ".[all]"

# The main job on the embedded engine.
demo: setup
	$(BIN)/accelerate-rl demo

# The default run leaves out tests marked slow (each over a minute: multi-node drills,
# RL training jobs, whole real linacs); `make test-all` runs them too.
test: setup
	$(BIN)/ruff check src tests experiments
	RAY_AUTH_MODE=disabled $(BIN)/python -m pytest -q -m "not slow"

test-all: setup
	$(BIN)/ruff check src tests experiments
	RAY_AUTH_MODE=disabled $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests experiments

clean:
	rm -rf $(VENV) build *.egg-info
