"""scripts/gpu_cost.sh rehearsed on the CPU: every phase, the wheel install, the budget guard, the
report and the archive, at tiny scale, so that a session lent a GPU does not spend its device
minutes on a mistake in the script (its GPU-only lines are nvidia-smi and the model names).

    REHEARSAL=1 bash scripts/gpu_cost.sh
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_cost.sh"
RUNS = ["sd21-base-fp16-512", "sd21-base-fp16-512-scaling", "sd15-fp16-512", "sd21-base-fp16-768",
        "sd21-base-fp16-512-compile"]


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
    for name in ("bench", "guidance", "sdmodels", "scorers", "toyworld", "benchmarks", "scripts", "conftest.py", "pyproject.toml"):
        src = ROOT / name
        (repo / name).symlink_to(src, target_is_directory=src.is_dir())
    (repo / ".whl").symlink_to(_wheels(tmp), target_is_directory=True)
    out = tmp / "out"
    bindir = Path(sys.executable).parent
    run_env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "REHEARSAL": "1", "OUT": str(out), **env}
    proc = subprocess.run(["bash", str(repo / "scripts" / "gpu_cost.sh")], cwd=repo, env=run_env,
                          capture_output=True, text=True, timeout=900)
    return proc, out


def test_rehearsal_runs_every_phase_and_packs_a_report(tmp_path):
    proc, out = _rehearse(tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "SKIPPED" not in log and "CUT OFF" not in log and "PACKING FAILED" not in log, log[-3000:]
    with tarfile.open(out / "gpu_results.tgz") as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "unpacked", filter="data")
    for run in RUNS:
        assert f"results/timing/rehearsal-{run}/steps.csv" in names, run
    assert {"reports/cost.md", "reports/headline.json", "results/benchmarks/rehearsal-sd21-base-fp16-512.json"} <= names

    unpacked = tmp_path / "unpacked"
    for run in RUNS:
        for r in _rows(unpacked / "results/timing" / f"rehearsal-{run}" / "steps.csv"):
            # the rehearsal's rows are what the GPU's will be, less the CUDA-only modes
            assert r["status"].startswith("ok") or (r["mode"] == "graph" and r["status"].startswith("skipped")), (run, r["backend"], r["status"])
            assert r["device"] == "cpu" and r["model"] == "tiny"
    sizes = {int(r["height"]) for r in _rows(unpacked / "results/timing/rehearsal-sd21-base-fp16-768/steps.csv")}
    assert sizes == {48}
    compiled = [r for r in _rows(unpacked / "results/timing/rehearsal-sd21-base-fp16-512-compile/steps.csv") if r["mode"] == "compile"]
    assert {r["backend"] for r in compiled} == {"none", "midu", "midu-overlap"}
    assert all(r["status"] == "ok (torch.compile backend=aot_eager)" for r in compiled)
    bench = json.loads((unpacked / "results/benchmarks/rehearsal-sd21-base-fp16-512.json").read_text())
    assert len(bench["benchmarks"]) == 9 and all("peak_alloc_gib" in b["extra_info"] for b in bench["benchmarks"])
    md = (unpacked / "reports/cost.md").read_text()
    assert all(f"## Run `rehearsal-{run}`" in md for run in RUNS)
    # the checkout's own results and reports were not touched
    assert not list((ROOT / "results" / "timing").glob("rehearsal-*"))


def test_rehearsal_out_of_budget_names_the_next_call(tmp_path):
    proc, out = _rehearse(tmp_path, BUDGET_S="0", PHASES="ref scaling bench")
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "NOT RUN OR CUT OFF (budget): ref scaling512 scaling768 bench" in log
    assert "next call: PHASES='ref scaling512 scaling768 bench' REHEARSAL=1 bash scripts/gpu_cost.sh" in log


def test_unknown_phase_is_refused(tmp_path):
    proc, _ = _rehearse(tmp_path, PHASES="ref warp")
    assert proc.returncode == 2 and "unknown phase warp" in proc.stdout + proc.stderr


def test_the_gpu_branch_still_names_the_reference_run():
    # the rehearsal swaps model, size, dtype and device in one place; the GPU branch keeps the real ones
    text = SCRIPT.read_text()
    assert "REF=sd21-base SD15=sd15 S512=512 S768=768 COMPILE_BACKEND=inductor" in text
    assert "COMMON=(--weights random --dtype fp16 --device cuda)" in text and "SHORT=()" in text


def test_a_rehearsal_switch_other_than_0_or_1_is_refused(tmp_path):
    proc, _ = _rehearse(tmp_path, REHEARSAL="yes")
    assert proc.returncode == 2 and "REHEARSAL=yes: expected 1" in proc.stdout + proc.stderr
