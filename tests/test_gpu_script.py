"""scripts/gpu_cost.sh rehearsed on the CPU: every phase, the wheel install, the budget guard, the
report and the archive, at tiny scale, so that a session lent a GPU does not spend its device
minutes on a mistake in the script (its GPU-only lines are nvidia-smi and the model names).

    REHEARSAL=1 bash scripts/gpu_cost.sh
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_cost.sh"
FIRST_RUNS = ["sd21-base-fp16-512", "sd21-base-fp16-512-batch1"]
BUDGET_SKIP = re.compile(r"SKIPPED [\w-]+: -?\d+s of budget left")  # the guard's line (pytest's own "SKIPPED [1] ..." is not)
LATER = "scaling512 sd15 scaling768 compile"
LATER_RUNS = ["sd21-base-fp16-512-scaling", "sd15-fp16-512", "sd21-base-fp16-768", "sd21-base-fp16-512-compile"]


def _wheels(tmp: Path) -> Path:
    """Wheels of the packages the script installs, built from this environment's (no network)."""
    out = tmp / "whl"
    out.mkdir()
    # a stand-in wheel: the script's install step needs something to install, and installs .whl/*.whl
    name = "gb_rehearsal_stub"
    pkg = tmp / "stub"
    (pkg / name).mkdir(parents=True)
    (pkg / name / "__init__.py").write_text("")
    (pkg / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "0"\n'
                                        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(pkg)],
                   check=True)
    return out


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _rehearse(tmp: Path, **env) -> tuple[subprocess.CompletedProcess, Path]:
    repo = tmp / "repo"  # a copy of the script's view of the checkout, with its own .whl/
    repo.mkdir()
    for name in ("bench", "guidance", "sdmodels", "scorers", "toyworld", "benchmarks", "tests", "scripts", "conftest.py", "pyproject.toml"):
        src = ROOT / name
        (repo / name).symlink_to(src, target_is_directory=src.is_dir())
    (repo / ".whl").symlink_to(_wheels(tmp), target_is_directory=True)
    out = tmp / "out"
    bindir = Path(sys.executable).parent
    run_env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "REHEARSAL": "1", "OUT": str(out), **env}
    proc = subprocess.run(["bash", str(repo / "scripts" / "gpu_cost.sh")], cwd=repo, env=run_env,
                          capture_output=True, text=True, timeout=900)
    return proc, out


def _unpack(out: Path, to: Path) -> set[str]:
    with tarfile.open(out / "gpu_results.tgz") as tar:
        names = set(tar.getnames())
        tar.extractall(to, filter="data")
    return names


def _check_rows(unpacked: Path, runs: list[str]) -> None:
    for run in runs:
        for r in _rows(unpacked / "results/timing" / f"rehearsal-{run}" / "steps.csv"):
            # the rehearsal's rows are what the GPU's will be, less the CUDA-only modes
            assert r["status"].startswith("ok") or (r["mode"] == "graph" and r["status"].startswith("skipped")), (run, r["backend"], r["status"])
            assert r["device"] == "cpu" and r["model"] == "tiny"


def test_one_window_runs_the_essentials_in_order_and_its_headline_is_complete(tmp_path):
    from guidance import BACKENDS

    from bench.report.cost import headline
    from bench.report.cost_runs import load_runs

    proc, out = _rehearse(tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert not BUDGET_SKIP.search(log) and "CUT OFF" not in log and "PACKING FAILED" not in log, log[-3000:]
    # essentials first, then the report and the archive; the later phases are named for the next window
    order = [log.index("=== gputests ("), log.index("=== sd21-base-fp16-512 ("), log.index("=== bench ("),
             log.index("=== sd21-base-fp16-512-batch1 ("), log.index("=== report ("), log.index("packed ")]
    assert order == sorted(order), log[-3000:]
    assert "=== gputests: exit 0" in log and "skipped" in log  # collected and skipped on a CPU: the phase itself works
    assert f"LEFT FOR THE NEXT GPU WINDOW: {LATER}" in log
    assert f"next call: PHASES='{LATER}' REHEARSAL=1 bash scripts/gpu_cost.sh" in log
    names = _unpack(out, tmp_path / "unpacked")
    unpacked = tmp_path / "unpacked"
    for run in FIRST_RUNS:
        assert f"results/timing/rehearsal-{run}/steps.csv" in names, run
    assert {"reports/cost.md", "reports/headline.json", "results/benchmarks/rehearsal-sd21-base-fp16-512.json"} <= names
    _check_rows(unpacked, FIRST_RUNS)
    bench = json.loads((unpacked / "results/benchmarks/rehearsal-sd21-base-fp16-512.json").read_text())
    assert len(bench["benchmarks"]) == len(BACKENDS) and all("peak_alloc_gib" in b["extra_info"] for b in bench["benchmarks"])
    assert {b["params"]["batch"] for b in bench["benchmarks"]} == {4}
    # the headline phase alone (its own folder, nothing from the later phases) makes a complete headline
    alone = tmp_path / "headline-only"
    (alone / "timing").mkdir(parents=True)
    (alone / "timing" / "rehearsal-sd21-base-fp16-512").symlink_to(unpacked / "results/timing/rehearsal-sd21-base-fp16-512")
    per, about = headline(load_runs(alone), reference={"model": "tiny", "height": 32, "width": 32, "dtype": "fp32", "batch": 4},
                          gpu_only=False)
    assert set(per) == set(BACKENDS), per
    assert all(v["latency_ratio"] is not None and v["extra_peak_mem_gib"] is not None for v in per.values()), per
    profiled = {r["backend"] for r in _rows(alone / "timing/rehearsal-sd21-base-fp16-512/breakdown.csv")}
    assert profiled == set(BACKENDS), profiled  # one profiled step per backend
    md = (unpacked / "reports/cost.md").read_text()
    assert all(f"## Run `rehearsal-{run}`" in md for run in FIRST_RUNS)
    # the checkout's own results and reports were not touched
    assert not list((ROOT / "results" / "timing").glob("rehearsal-*"))


def test_the_later_phases_rehearse_too(tmp_path):
    proc, out = _rehearse(tmp_path, PHASES="later")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert not BUDGET_SKIP.search(log) and "CUT OFF" not in log and "LEFT FOR THE NEXT" not in log, log[-3000:]
    names = _unpack(out, tmp_path / "unpacked")
    for run in LATER_RUNS:
        assert f"results/timing/rehearsal-{run}/steps.csv" in names, run
    unpacked = tmp_path / "unpacked"
    _check_rows(unpacked, LATER_RUNS)
    sizes = {int(r["height"]) for r in _rows(unpacked / "results/timing/rehearsal-sd21-base-fp16-768/steps.csv")}
    assert sizes == {48}
    compiled = [r for r in _rows(unpacked / "results/timing/rehearsal-sd21-base-fp16-512-compile/steps.csv") if r["mode"] == "compile"]
    assert {r["backend"] for r in compiled} == {"none", "midu", "midu-overlap"}
    assert all(r["status"] == "ok (torch.compile backend=aot_eager)" for r in compiled)


def test_rehearsal_out_of_budget_names_the_next_call(tmp_path):
    proc, out = _rehearse(tmp_path, BUDGET_S="0", PHASES="gputests headline scaling bench")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "NOT RUN OR CUT OFF (budget): gputests headline scaling512 scaling768 bench" in log
    assert "next call: PHASES='gputests headline scaling512 scaling768 bench sd15 compile' REHEARSAL=1 bash scripts/gpu_cost.sh" in log


def test_unknown_phase_is_refused(tmp_path):
    proc, _ = _rehearse(tmp_path, PHASES="headline warp")
    assert proc.returncode == 2 and "unknown phase warp" in proc.stdout + proc.stderr


def test_the_gpu_branch_still_names_the_reference_run():
    # the rehearsal swaps model, size, dtype and device in one place; the GPU branch keeps the real ones
    text = SCRIPT.read_text()
    assert "REF=sd21-base SD15=sd15 S512=512 S768=768 COMPILE_BACKEND=inductor" in text
    assert "COMMON=(--weights random --dtype fp16 --device cuda)" in text and "SHORT=()" in text


def test_a_rehearsal_switch_other_than_0_or_1_is_refused(tmp_path):
    proc, _ = _rehearse(tmp_path, REHEARSAL="yes")
    assert proc.returncode == 2 and "REHEARSAL=yes: expected 1" in proc.stdout + proc.stderr


# what the GPU machine's transfer takes: the working tree (tracked and untracked-not-ignored files) and what `carry`
# names (the wheels, .whl/, about 8.3 MiB: diffusers 6.1, open_clip 1.5, wcwidth 0.75, ftfy 0.04) in 64 MiB
DEVICE_TRANSFER_MIB, WHEELS_MIB = 64, 10


def test_the_working_tree_and_the_wheels_fit_the_gpu_machines_transfer():
    """Committed results grow; past the limit the prepared GPU run is refused before it starts (sweeps' rows are packed)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
        files = [ROOT / f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):  # a copy without its .git: every file but what .gitignore keeps out
        skip = {".git", ".venv", ".whl", "__pycache__", ".pytest_cache", ".benchmarks", "build", "out", "demo-out"}
        files = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    mib = sum(f.stat().st_size for f in files if f.is_file()) / 2**20
    assert mib + WHEELS_MIB <= DEVICE_TRANSFER_MIB, f"{mib:.1f} MiB of working tree + {WHEELS_MIB} MiB of wheels"
