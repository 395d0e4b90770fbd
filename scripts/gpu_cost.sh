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
# Phases, in this order by default (PHASES="..." picks some; "scaling" means both scaling phases):
#   ref         sd21-base fp16 512 px, batch 1 and 4, all backends, eager + CUDA graph, profiles ~3.5 min
#   scaling512  sd21-base fp16 512 px, batch 2 and 8, eager + graph, short rounds            ~2.5 min
#   sd15        sd15 fp16 512 px, batch 1 and 4, eager + graph, short rounds                 ~2.5 min
#   scaling768  sd21-base fp16 768 px, batch 1, 4 and 8, eager + graph, short rounds         ~5 min
#   bench       pytest benchmarks/ --benchmark-only at full scale (sd21-base fp16 512 px,
#               batch 1 and 4, all backends), JSON kept for --benchmark-compare             ~2 min
#   compile     sd21-base fp16 512 px batch 4, none, midu, midu-overlap: eager + torch.compile ~4 min
# Estimates for an H100 from the prototype's step times (eager unguided step 45 ms at batch 4,
# pixel ~11x), model builds ~20 s each; they could be off by 2x, so the script guards itself:
# it starts no phase once BUDGET_S (default 520 s) is spent and interrupts a running one at
# that point (a cost run keeps every configuration it finished), then packs what it has.
# Expect two calls: the first covers ref, scaling512 and most of sd15; the log ends with the
# phases left for the second, e.g.
#   PHASES='sd15 scaling768 bench compile' bash scripts/gpu_cost.sh
#
# Rehearsal on a CPU (REHEARSAL=1): every phase, the wheel install, the budget guard, the report
# and the archive run here at tiny scale (tiny preset, fp32, one round of one step, the compile
# phase through the aot_eager backend) into a scratch folder, so a GPU session's minutes are not
# spent finding a mistake in this script. tests/test_gpu_script.py runs it in CI.
#   REHEARSAL=1 bash scripts/gpu_cost.sh                # writes $OUT (default: a new /tmp folder)
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
BUDGET_S=${BUDGET_S:-520}
PHASES=${PHASES:-"ref scaling512 sd15 scaling768 bench compile"}
RUN=()
for p in $PHASES; do
  case $p in
    scaling) RUN+=(scaling512 scaling768) ;;
    ref|scaling512|sd15|scaling768|bench|compile) RUN+=("$p") ;;
    *) echo "unknown phase $p in PHASES='$PHASES' (expected ref, scaling512, sd15, scaling768, bench, compile, or scaling)"; exit 2 ;;
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
  BENCH_ARGS=(--gb-batch 1 --gb-rounds 1 --gb-warmup 0)
else
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  python3 -c "import torch, diffusers, open_clip; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(), '| diffusers', diffusers.__version__, '| open_clip', open_clip.__version__)" || exit 1
  GPU=$(python3 -c "import torch; n = torch.cuda.get_device_name().lower(); print(next((k for k in ('h200', 'h100', 'a100', 'l40s') if k in n), 'gpu'))")
  REF=sd21-base SD15=sd15 S512=512 S768=768 COMPILE_BACKEND=inductor
  COMMON=(--weights random --dtype fp16 --device cuda)
  SHORT=()
  BENCH_ARGS=(--gb-rounds 10 --gb-warmup 3)
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
for phase in "${RUN[@]}"; do
  case $phase in
    ref)     cost_run sd21-base-fp16-512 --model $REF --batch 1 4 --size $S512 --modes eager graph ;;
    sd15)    cost_run sd15-fp16-512 --model $SD15 --batch 1 4 --size $S512 --modes eager graph --rounds 3 --steps 4 --profile-steps 1 ;;
    scaling512) cost_run sd21-base-fp16-512-scaling --model $REF --batch 2 8 --size $S512 --modes eager graph --rounds 3 --steps 3 --warmup 2 --profile-steps 1 ;;
    scaling768) cost_run sd21-base-fp16-768 --model $REF --batch 1 4 8 --size $S768 --modes eager graph --rounds 3 --steps 3 --warmup 2 --profile-steps 1 ;;
    bench)   if (( $(left) < 120 )); then echo "SKIPPED bench: $(left)s of budget left"; SKIPPED+=(bench); continue; fi
             mkdir -p "$RESULTS/benchmarks"
             # a measurement, not a test of warnings: the GPU image's torch/transformers may warn where ours do not
             timeout -s INT -k 30 "$(left)" python3 -m pytest benchmarks/ --benchmark-only -q -p no:cacheprovider -o filterwarnings= \
               "${BENCH_ARGS[@]}" --benchmark-json "$RESULTS/benchmarks/$GPU-sd21-base-fp16-512.json"
             echo "=== bench: exit $?" ;;
    compile) cost_run sd21-base-fp16-512-compile --model $REF --batch 4 --size $S512 --backends none midu midu-overlap --modes eager compile --profile-steps 1 --compile-backend $COMPILE_BACKEND ;;
  esac
done

python3 -m bench report --results "$RESULTS" --reports "$REPORTS"
(cd "$STAGE" && tar czf "$OUT/gpu_results.tgz" results/timing/"$GPU"-* $(ls results/benchmarks/"$GPU"-*.json 2>/dev/null) \
  reports/cost.md reports/cost_*.png reports/headline.json) \
  && echo "packed $OUT/gpu_results.tgz in $(( $(date +%s) - START ))s" || echo "PACKING FAILED"
if (( ${#SKIPPED[@]} )); then
  echo "NOT RUN OR CUT OFF (budget): ${SKIPPED[*]}"
  if [[ $REHEARSAL == 1 ]]; then
    echo "next call: PHASES='${SKIPPED[*]}' REHEARSAL=1 bash scripts/gpu_cost.sh"
  else
    echo "next call: PHASES='${SKIPPED[*]}' bash scripts/gpu_cost.sh"
  fi
fi
