# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch 2.14.1 + torchvision 0.29.1 install from this machine's local wheel store
# (open_clip needs torchvision); the GPU machines bring their own torch.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: venv demo test bench-cpu cost-cpu costmodel report clean

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

# the CPU cost run committed under results/timing/cpu-tiny-fp32 (the GPU run: scripts/gpu_cost.sh)
cost-cpu: $(STAMP)
	$(BIN)/python -m bench cost-run --model tiny --batch 1 4 --modes eager graph --rounds 15 --steps 3 --threads 1 --out results/timing/cpu-tiny-fp32

# the committed cost model (about 13 min on 2 cores)
costmodel: $(STAMP)
	$(BIN)/python -m bench costmodel --models sd15 sd21-base --batches 1 2 4 8 --sizes 512 768 --attention fused math --out results/costmodel

report: $(STAMP)
	$(BIN)/python -m bench report

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .benchmarks
