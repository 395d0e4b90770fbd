# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch 2.14.1 + torchvision 0.29.1 install from this machine's local wheel store
# (open_clip needs torchvision); the GPU machines bring their own torch.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: venv demo test test-fast bench-cpu clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m bench demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench-cpu: $(STAMP)
	$(BIN)/python -m pytest benchmarks/ --benchmark-only -q

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .benchmarks
