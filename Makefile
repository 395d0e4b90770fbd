# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch 2.14.1 + torchvision 0.29.1 install from this machine's local wheel store
# (open_clip needs torchvision); the GPU machines bring their own torch.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out
TOY_SCALES ?= -0.05 0.01 0.02 0.03 0.05 0.08
TOY_SEEDS ?= 64
# extra options for the toy sweeps that leave their rows unchanged, e.g. TOY_EXEC="--executor ray --gpus-per-cell 0"
# (one cell per CPU core)
TOY_EXEC ?=

.PHONY: venv browser demo demo-tiny test bench-cpu cost-cpu cost-cpu-sd21 costmodel report toyworld toyworld-check toyworld-v1 toyworld-sweep toyworld-sweep-clean toyworld-sweep-every-k toyworld-sweep-recurrence toyworld-sweep-x0 toyworld-sweep-discriminator clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# a small uplift sweep in the toy world on the committed weights, with its report: $(DEMO_OUT)/toyworld.md
demo: $(STAMP)
	$(BIN)/python -m bench demo --out $(DEMO_OUT)

# the machinery demo: every backend at -1, 0, +1 on the tiny model with random weights
demo-tiny: $(STAMP)
	$(BIN)/python -m bench demo --tiny-random --out $(DEMO_OUT)-tiny

# the rating page's browser test drives Debian's chromium through its chromium-driver: installed when missing
# (about 2 min on a fresh machine; apt-get as root, else through sudo)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

bench-cpu: $(STAMP)
	$(BIN)/python -m pytest benchmarks/ --benchmark-only -q

# the CPU cost run committed under results/timing/cpu-tiny-fp32 (the GPU run: scripts/gpu_cost.sh)
cost-cpu: $(STAMP)
	$(BIN)/python -m bench cost-run --model tiny --batch 1 4 --modes eager graph --rounds 15 --steps 3 --threads 1 --out results/timing/cpu-tiny-fp32

# every backend at the full SD 2.1-base architecture on one CPU thread (about 70 min here): ratios without launch overhead
cost-cpu-sd21: $(STAMP)
	$(BIN)/python -m bench cost-run --model sd21-base --dtype fp32 --device cpu --batch 1 --modes eager --warmup 1 --rounds 3 --steps 1 --profile-steps 1 --threads 1 --out results/timing/cpu-sd21-base-fp32

# the committed cost model (about 13 min on 2 cores)
costmodel: $(STAMP)
	$(BIN)/python -m bench costmodel --models sd15 sd21-base --batches 1 2 4 8 --sizes 512 768 --attention fused math --out results/costmodel

report: $(STAMP)
	$(BIN)/python -m bench report

# rebuild every committed toy-world weight (LDM, pixel scorer, heads) from nothing
toyworld: $(STAMP)
	$(BIN)/python -m toyworld.build_all --out toyworld/weights --overwrite

# check that the committed weights are what the build makes: rebuild into a scratch folder and compare every file
toyworld-check: $(STAMP)
	rm -rf /tmp/toyworld-check && $(BIN)/python -m toyworld.build_all --out /tmp/toyworld-check --reports /tmp/toyworld-check-reports
	$(BIN)/python -m toyworld.build_record toyworld/weights /tmp/toyworld-check

# the first world (recipe v1: factor-4 VAE, shapes not followed) into a scratch folder, never over the committed
# weights; rerunning after an interruption resumes from the last finished stage ($(TOY1_OUT)/weights.stages)
TOY1_OUT ?= /tmp/toyworld-v1
toyworld-v1: $(STAMP)
	$(BIN)/python -m toyworld.build_all --recipe v1 --out $(TOY1_OUT)/weights --reports $(TOY1_OUT)/reports

# the committed uplift sweep and its report (resumes where an interrupted run stopped): every backend, CFG only at
# four more scales, best-of-8 draws, the images of every seed kept (the rating page offers held-out pairs); each
# sweep's rows packed (rows.jsonl.gz, a tenth of the size: the tracked tree must fit the GPU machine's transfer)
TOY_SWEEP := $(BIN)/python -m bench uplift --world toy --backends none midu latent pixel --scales $(TOY_SCALES) --cfg-scales 1.5 3 7.5 15 --best-of 8 --window 0.3 1 --seeds $(TOY_SEEDS) --chunk 32 --threads 1 --keep-images all --resume --out results/uplift/toy $(TOY_EXEC)
toyworld-sweep: $(STAMP)
	$(TOY_SWEEP)
	$(BIN)/python -m bench pack results/uplift/toy
	$(BIN)/python -m bench uplift-report --sweep results/uplift/toy --out reports/toyworld.md --headline reports/headline.json --sweep-command "make toyworld-sweep"

# the seed's clean-feature head (no added noise in training) guiding mid-U, same settings; not merged into the headline
toyworld-sweep-clean: $(STAMP)
	$(BIN)/python -m bench uplift --world toy --backends none midu --head midblock=toyworld/weights/heads/midblock_clean --scales $(TOY_SCALES) --window 0.3 1 --seeds $(TOY_SEEDS) --chunk 32 --threads 1 --resume --out results/uplift/toy-midblock-clean $(TOY_EXEC)
	$(BIN)/python -m bench pack results/uplift/toy-midblock-clean
	$(BIN)/python -m bench uplift-report --sweep results/uplift/toy-midblock-clean --out reports/toyworld_midblock_clean.md --sweep-command "make toyworld-sweep-clean"

# the cost of a finished sample, by question (each under an hour on one core, resumable): how rarely mid-U can guide
# (every k-th step of the window, with and without reusing the last gradient on the skipped steps), and what
# recurrence, inner iterations and a later window buy; settings chosen on calibration seeds, read on held-out ones
toyworld-sweep-every-k: $(STAMP)
	$(BIN)/python -m bench uplift --world toy --backends none midu --scales 0.02 0.05 0.15 0.36 --knobs every_k=1,4,12 reuse_grad=0,1 --window 0.3 1 --seeds 32 --chunk 32 --threads 1 --resume --out results/uplift/toy-every-k $(TOY_EXEC)
	$(BIN)/python -m bench pack results/uplift/toy-every-k
	$(BIN)/python -m bench uplift-report --sweep results/uplift/toy-every-k --out reports/toyworld_every_k.md --sweep-command "make toyworld-sweep-every-k"

toyworld-sweep-recurrence: $(STAMP)
	$(BIN)/python -m bench uplift --world toy --backends none midu --scales 0.02 0.05 --knobs recurrence=1,2 iterations=1,2 window_start=0.3,0.6 --window 0.3 1 --seeds 32 --chunk 32 --threads 1 --resume --out results/uplift/toy-recurrence $(TOY_EXEC)
	$(BIN)/python -m bench pack results/uplift/toy-recurrence
	$(BIN)/python -m bench uplift-report --sweep results/uplift/toy-recurrence --out reports/toyworld_recurrence.md --sweep-command "make toyworld-sweep-recurrence"

# latent-x0 (a latent head on the x0 estimate: no UNet backward, no decoder) beside the noised-latent head it
# replaces, each plain and at every 12th step
toyworld-sweep-x0: $(STAMP)
	$(BIN)/python -m bench uplift --world toy --backends none latent latent-x0 --scales 0.02 0.05 0.1 0.2 --knobs every_k=1,12 --window 0.3 1 --seeds 32 --chunk 32 --threads 1 --resume --out results/uplift/toy-x0 $(TOY_EXEC)
	$(BIN)/python -m bench pack results/uplift/toy-x0
	$(BIN)/python -m bench uplift-report --sweep results/uplift/toy-x0 --out reports/toyworld_x0.md --sweep-command "make toyworld-sweep-x0"

# the discriminator head (real renders against the model's own samples) guiding mid-U; scales from a pilot on calibration
# seeds 0-7 (its logit is hacked fast: at 0.03 the truth falls by 1.8); every image kept, for the kernel distance to real renders
TOY_DISC_SCALES ?= -0.01 0.002 0.005 0.01 0.03 0.1
toyworld-sweep-discriminator: $(STAMP)
	$(BIN)/python -m bench uplift --world toy --backends none midu --head midblock=toyworld/weights/heads/discriminator --scales $(TOY_DISC_SCALES) --window 0.3 1 --seeds 32 --chunk 32 --threads 1 --keep-images all --resume --out results/uplift/toy-discriminator $(TOY_EXEC)
	$(BIN)/python -m bench pack results/uplift/toy-discriminator
	$(BIN)/python -m bench uplift-report --sweep results/uplift/toy-discriminator --out reports/toyworld_discriminator.md --sweep-command "make toyworld-sweep-discriminator"

clean:
	rm -rf $(DEMO_OUT) .pytest_cache .benchmarks
