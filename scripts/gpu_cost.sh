#!/usr/bin/env bash
# The GPU cost run (issue 3): every backend's guided step at full architecture scale on an
# H100/H200, fp16, random weights. Writes results/timing/<gpu>-*/ (e.g. h100-sd21-base-fp16-512/)
# and results/benchmarks/<gpu>-*.json, regenerates reports/, and packs both into $OUT.
#
# Here, once:    bash scripts/fetch_wheels.sh        # diffusers, open_clip_torch, ftfy, wcwidth -> .whl/
# On the GPU machine, from a copy of the checkout with its .whl/ folder, OUT set to an empty folder:
#                bash scripts/gpu_cost.sh
# Back here:     tar xzf <OUT>/gpu_results.tgz && .venv/bin/python -m bench report
#                (the archive holds results/timing/<gpu>-*/, results/benchmarks/ and the reports made
#                there; regenerate here so the CPU runs and the cost model join them; commit both)
#
# One run of at most 8.5 minutes of work (BUDGET_S=510), essentials first. By default, in this order:
#   gputests  pytest -m gpu: the CUDA-only paths (graph replay == eager, midu-overlap == midu, NVML,
#             scale-0 parity with the diffusers pipeline in fp16); a failure is logged, the run goes on ~0.5 min
#   headline  sd21-base fp16 512 px, batch 4, every registered backend, eager + CUDA graph, one
#             profiled step per backend, allocator and NVML memory (reports/headline.json's source) ~2 min
#   bench     pytest benchmarks/ --benchmark-only at full scale, batch 4, every backend, JSON kept
#             for --benchmark-compare                                                            ~1 min
#   batch1    batch 1 of the headline configuration                                               ~1.5 min
#   then `bench report` and the archive.
# Sized from the prototype's figures (H100: eager unguided step 45 ms at batch 4, pixel ~11x; model
# builds ~20 s each) so that the first three fit in 6 minutes even on a GPU 1.5x slower than that.
# The budget guard cuts the tail, never the head: it starts no phase once BUDGET_S is spent and
# interrupts a running one at that point (a cost run keeps every configuration it finished), then
# packs what it has. Each phase logs its time. Later phases wait for the next GPU window (PHASES="..."):
#   scaling512  sd21-base fp16 512 px, batch 2 and 8, eager + graph, short rounds             ~2.5 min
#   sd15        sd15 fp16 512 px, batch 1 and 4, eager + graph, short rounds                  ~2.5 min
#   scaling768  sd21-base fp16 768 px, batch 1, 4 and 8, eager + graph, short rounds          ~5 min
#   compile     sd21-base fp16 512 px batch 4, none, midu, midu-overlap: eager + torch.compile ~4 min
# ("scaling" means both scaling phases, "later" all four); the log ends with the phases not run, e.g.
#   PHASES='scaling512 sd15 scaling768 compile' bash scripts/gpu_cost.sh
# The backend lists come from the registry (cost-run's and the benchmarks' defaults), so a backend
# added later joins the run without an edit here.
#
# Rehearsal on a CPU (REHEARSAL=1): every phase, the wheel install, the budget guard, the report
# and the archive run here at tiny scale (tiny preset, fp32, one round of one step, the compile
# phase through the aot_eager backend) into a scratch folder, so a GPU session's minutes are not
# spent finding a mistake in this script. tests/test_gpu_script.py runs it in CI.
#   REHEARSAL=1 bash scripts/gpu_cost.sh                # writes $OUT (default: a new /tmp folder)
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET_S=${BUDGET_S:-510}
FIRST="gputests headline bench batch1"
LATER="scaling512 sd15 scaling768 compile"
PHASES=${PHASES:-$FIRST}
RUN=()
for p in $PHASES; do
  case $p in
    scaling) RUN+=(scaling512 scaling768) ;;
    later) RUN+=($LATER) ;;
    gputests|headline|bench|batch1|scaling512|sd15|scaling768|compile) RUN+=("$p") ;;
    *) echo "unknown phase $p in PHASES='$PHASES' (expected one of $FIRST $LATER, or scaling, later)"; exit 2 ;;
  esac
done
REHEARSAL=${REHEARSAL:-0}
if [[ $REHEARSAL != 0 && $REHEARSAL != 1 ]]; then echo "REHEARSAL=$REHEARSAL: expected 1 (rehearse on the CPU) or 0 (the GPU run)"; exit 2; fi
if [[ $REHEARSAL == 1 ]]; then
  OUT=${OUT:-$(mktemp -d /tmp/gpu-rehearsal.XXXXXX)}
  STAGE=$OUT/stage  # results/ and reports/ of the rehearsal: the checkout's stay untouched
else
  OUT=${OUT:-out/gpu}
  STAGE=.
fi
mkdir -p "$OUT" "$STAGE"
OUT=$(cd "$OUT" && pwd)
# relative in the checkout: every row records its command, and committed rows name no machine's folders
if [[ $STAGE == . ]]; then RESULTS=results REPORTS=reports; else RESULTS=$STAGE/results REPORTS=$STAGE/reports; fi
LOG="$OUT/gpu_cost.log"
exec > >(tee -a "$LOG") 2>&1

if [[ $REHEARSAL == 1 ]]; then
  SITE=${SITE:-$OUT/site}
  [[ -x .venv/bin/python3 ]] && export PATH=$PWD/.venv/bin:$PATH  # the checkout's interpreter stands in for the image's
else
  SITE=${SITE:-/tmp/site}
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH=$SITE PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if [[ $REHEARSAL == 1 ]]; then
  echo "REHEARSAL on $(python3 -c 'import platform; print(platform.processor() or platform.machine())'): tiny preset, fp32, CPU, into $STAGE"
  python3 -c "import torch, diffusers, open_clip; print('torch', torch.__version__, '| diffusers', diffusers.__version__, '| open_clip', open_clip.__version__)" || exit 1
  GPU=rehearsal
  REF=tiny SD15=tiny S512=32 S768=48 COMPILE_BACKEND=aot_eager
  COMMON=(--weights random --dtype fp32 --device cpu --threads 1)
  SHORT=(--warmup 0 --rounds 1 --steps 1 --profile-steps 1)  # last on the line: overrides each phase's own
  BENCH_ARGS=(--gb-batch 4 --gb-rounds 1 --gb-warmup 0)
else
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  python3 -c "import torch, diffusers, open_clip; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(), '| diffusers', diffusers.__version__, '| open_clip', open_clip.__version__)" || exit 1
  GPU=$(python3 -c "import torch; n = torch.cuda.get_device_name().lower(); print(next((k for k in ('h200', 'h100', 'a100', 'l40s') if k in n), 'gpu'))")
  REF=sd21-base SD15=sd15 S512=512 S768=768 COMPILE_BACKEND=inductor
  COMMON=(--weights random --dtype fp16 --device cuda)
  SHORT=()
  BENCH_ARGS=(--gb-batch 4 --gb-rounds 10 --gb-warmup 3)
fi
left() { echo $((BUDGET_S - ($(date +%s) - START))); }

cost_run() {  # cost_run NAME ARGS...: one `bench cost-run` into results/timing/$GPU-NAME, cut off at the budget ($phase: caller's)
  local name=$1; shift
  local remaining; remaining=$(left)
  if (( remaining < 60 )); then echo "SKIPPED $phase: ${remaining}s of budget left"; SKIPPED+=("$phase"); return; fi
  echo "=== $name ($(date +%T), ${remaining}s of budget left)"
  local t0; t0=$(date +%s)
  timeout -s INT -k 30 "$remaining" python3 -m bench cost-run "${COMMON[@]}" "$@" ${SHORT[@]+"${SHORT[@]}"} --out "$RESULTS/timing/$GPU-$name"
  local rc=$?
  echo "=== $name: exit $rc, $(( $(date +%s) - t0 ))s"
  if (( rc == 124 || rc == 130 || rc == 137 )); then SKIPPED+=("$phase"); echo "CUT OFF $phase: its finished configurations are kept"; fi
}

SKIPPED=()
HEADLINE=(--model $REF --batch 4 --size $S512 --modes eager graph --warmup 3 --rounds 5 --steps 4 --profile-steps 1)
for phase in "${RUN[@]}"; do
  case $phase in
    gputests) if (( $(left) < 60 )); then echo "SKIPPED gputests: $(left)s of budget left"; SKIPPED+=(gputests); continue; fi
             echo "=== gputests ($(date +%T), $(left)s of budget left)"; t0=$(date +%s)
             # every test module that marks a test gpu; on a CPU (the rehearsal) they are collected and skipped
             GPU_TESTS=$(grep -l "pytest.mark.gpu" tests/test_*.py 2>/dev/null)
             if [[ -z $GPU_TESTS ]]; then echo "no test module under tests/ marks a test gpu"; rc=5
             else timeout -s INT -k 10 "$(left)" python3 -m pytest -m gpu -q -p no:cacheprovider -o filterwarnings= $GPU_TESTS; rc=$?
             fi
             echo "=== gputests: exit $rc, $(( $(date +%s) - t0 ))s"
             (( rc == 0 )) || echo "GPU TESTS FAILED (exit $rc): read the lines above before trusting the figures below" ;;
    headline) cost_run sd21-base-fp16-512 "${HEADLINE[@]}" ;;
    batch1)  cost_run sd21-base-fp16-512-batch1 --model $REF --batch 1 --size $S512 --modes eager graph --rounds 5 --steps 4 --profile-steps 1 ;;
    sd15)    cost_run sd15-fp16-512 --model $SD15 --batch 1 4 --size $S512 --modes eager graph --rounds 3 --steps 4 --profile-steps 1 ;;
    scaling512) cost_run sd21-base-fp16-512-scaling --model $REF --batch 2 8 --size $S512 --modes eager graph --rounds 3 --steps 3 --warmup 2 --profile-steps 1 ;;
    scaling768) cost_run sd21-base-fp16-768 --model $REF --batch 1 4 8 --size $S768 --modes eager graph --rounds 3 --steps 3 --warmup 2 --profile-steps 1 ;;
    bench)   if (( $(left) < 90 )); then echo "SKIPPED bench: $(left)s of budget left"; SKIPPED+=(bench); continue; fi
             echo "=== bench ($(date +%T), $(left)s of budget left)"; t0=$(date +%s)
             mkdir -p "$RESULTS/benchmarks"
             # a measurement, not a test of warnings: the GPU image's torch/transformers may warn where ours do not
             timeout -s INT -k 30 "$(left)" python3 -m pytest benchmarks/ --benchmark-only -q -p no:cacheprovider -o filterwarnings= \
               "${BENCH_ARGS[@]}" --benchmark-json "$RESULTS/benchmarks/$GPU-sd21-base-fp16-512.json"
             echo "=== bench: exit $?, $(( $(date +%s) - t0 ))s" ;;
    compile) cost_run sd21-base-fp16-512-compile --model $REF --batch 4 --size $S512 --backends none midu midu-overlap --modes eager compile --profile-steps 1 --compile-backend $COMPILE_BACKEND ;;
  esac
done

echo "=== report ($(date +%T))"
python3 -m bench report --results "$RESULTS" --reports "$REPORTS"
(cd "$STAGE" && tar czf "$OUT/gpu_results.tgz" results/timing/"$GPU"-* $(ls results/benchmarks/"$GPU"-*.json 2>/dev/null) \
  reports/cost.md reports/cost_*.png reports/headline.json) \
  && echo "packed $OUT/gpu_results.tgz in $(( $(date +%s) - START ))s" || echo "PACKING FAILED"
LEFT_FOR_LATER=()
for p in $LATER; do [[ " ${RUN[*]} " == *" $p "* ]] || LEFT_FOR_LATER+=("$p"); done
NEXT=(${SKIPPED[@]+"${SKIPPED[@]}"} ${LEFT_FOR_LATER[@]+"${LEFT_FOR_LATER[@]}"})
if (( ${#SKIPPED[@]} )); then echo "NOT RUN OR CUT OFF (budget): ${SKIPPED[*]}"; fi
if (( ${#LEFT_FOR_LATER[@]} )); then echo "LEFT FOR THE NEXT GPU WINDOW: ${LEFT_FOR_LATER[*]}"; fi
if (( ${#NEXT[@]} )); then
  if [[ $REHEARSAL == 1 ]]; then
    echo "next call: PHASES='${NEXT[*]}' REHEARSAL=1 bash scripts/gpu_cost.sh"
  else
    echo "next call: PHASES='${NEXT[*]}' bash scripts/gpu_cost.sh"
  fi
fi
