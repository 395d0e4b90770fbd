"""`--executor ray` on a local Ray cluster: two logical GPUs on a CPU machine, so placement is checked without a GPU.

One cluster for the whole module (Ray takes seconds to start). Rows through Ray equal
a local run's apart from timing and placement; a worker killed mid-cell is retried, or,
past its retries, is a `failed` row with the reason; never a missing or doubled row.
"""
import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import ray

from bench.cli import main
from bench.store.ray_sweep import run_sweep_ray
from bench.store.ray_tasks import RayOptions, fingerprint
from bench.store.rows import RowStore, read_rows
from bench.uplift.analysis import judge_columns, samples
from tests.test_progress import as_terminal

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module by name


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_DISABLE_USAGE_STATS"] = "1"
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 2**20)
    yield ray
    ray.shutdown()


def killed_once(config: dict) -> dict:
    """A cell whose worker is SIGKILLed the first time it starts (the marker file remembers)."""
    marker = Path(config["marker"])
    if not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"v": config["i"] * 2}


def test_killed_worker_is_retried_or_a_failed_row(cluster, tmp_path, monkeypatch):
    configs = [{"i": i, "marker": str(tmp_path / f"m{i}")} for i in range(2)]
    (tmp_path / "m1").write_text("")  # cell 1 runs plainly; cell 0 loses its worker once
    store = RowStore(tmp_path / "retried.jsonl")
    terminal = as_terminal(monkeypatch)
    s = run_sweep_ray(configs, killed_once, store, RayOptions(retries=1))
    assert "2/2" in terminal.getvalue() and "running=" in terminal.getvalue() and "failed=0" in terminal.getvalue()
    rows = read_rows(store.path)
    assert (s.ran, s.failed) == (2, 0) and sorted(r["i"] for r in rows) == [0, 1]
    assert all(r["status"] == "ok" and r["v"] == 2 * r["i"] for r in rows)
    assert {r["worker_gpu_ids"] for r in rows} <= {"0", "1"} and all(r["worker_host"] and r["worker_device"] == "cpu" for r in rows)

    store, configs = RowStore(tmp_path / "failed.jsonl"), [{"i": 0, "marker": str(tmp_path / "again")}]
    s = run_sweep_ray(configs, killed_once, store, RayOptions(retries=0), progress=False)
    [row] = read_rows(store.path)
    assert s.failed == 1 and row["status"] == "failed" and "died" in row["error"].lower() and "v" not in row
    assert run_sweep_ray(configs, killed_once, store, RayOptions(retries=0), resume=True, progress=False).skipped == 1
    assert len(read_rows(store.path)) == 1


def bad_cell(config: dict) -> dict:
    raise ValueError(f"--thing {config['i']}: expected another")


def test_worker_with_other_code_is_refused_and_a_cells_own_error_stops_the_sweep(cluster, tmp_path):
    other = {**fingerprint(), "git_commit": "0" * 40}
    with pytest.raises(ValueError, match="other code or packages than the driver: git_commit"):
        run_sweep_ray([{"i": 0, "marker": str(tmp_path)}], killed_once, RowStore(tmp_path / "r.jsonl"), RayOptions(), progress=False,
                      expect=other)
    with pytest.raises(ValueError, match=r"^--thing 0: expected another$"):  # as a local sweep raises it: one line for the CLI
        run_sweep_ray([{"i": 0}], bad_cell, RowStore(tmp_path / "r.jsonl"), RayOptions(), progress=False)
    assert read_rows(tmp_path / "r.jsonl") == []


TIMING = {"row_wall_s", "step_ms", "guided_step_ms", "run_id"}  # and the worker_* placement columns


def _comparable(rows: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k not in TIMING and not k.startswith("worker_")} for r in rows),
                  key=lambda r: (r["config_hash"], r.get("seed", -1)))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_toy_sweep_on_ray_writes_the_rows_and_images_of_a_local_run(cluster, tmp_path):
    from toyworld.world import toy_prompts

    args = ["uplift", "--world", "toy", "--backends", "none", "midu", "--scales", "1", "--prompt", toy_prompts(1)[0],
            "--seeds", "2", "--chunk", "1", "--steps", "2", "--threads", "1", "--quiet"]
    # both logical GPUs per cell: one task at a time, so one worker builds the models once (a small CI machine)
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--executor", "ray", "--gpus-per-cell", "2", "--out", str(tmp_path / "ray")]) == 0
    local, remote = (read_rows(tmp_path / name / "rows.jsonl") for name in ("local", "ray"))
    assert len(remote) == len(local) == 4 and _comparable(remote) == _comparable(local)
    assert all(r["worker_gpu_ids"] == "0,1" and r["worker_host"] for r in remote)
    assert judge_columns(samples(tmp_path / "ray" / "rows.jsonl")) == judge_columns(samples(tmp_path / "local" / "rows.jsonl"))
    assert (tmp_path / "ray" / "config.json").read_text() == (tmp_path / "local" / "config.json").read_text()
    assert _files(tmp_path / "ray" / "images") == _files(tmp_path / "local" / "images") != {}
    assert main([*args, "--executor", "ray", "--gpus-per-cell", "2", "--resume", "--out", str(tmp_path / "ray")]) == 0  # nothing left: resumes as locally
    assert len(read_rows(tmp_path / "ray" / "rows.jsonl")) == 4


def _steps(folder: Path) -> list[dict]:
    with (folder / "steps.csv").open() as f:
        return list(csv.DictReader(f))


def test_tiny_cost_run_on_ray_gives_a_local_runs_rows_on_one_whole_gpu(cluster, tmp_path):
    from bench.report.cost import write_report

    args = ["cost-run", "--model", "tiny", "--batch", "1", "--backends", "midu", "--warmup", "0", "--rounds", "2",
            "--steps", "1", "--profile-steps", "0"]
    timing_dir = tmp_path / "results" / "timing"
    assert main([*args, "--out", str(timing_dir / "local")]) == 0
    assert main([*args, "--executor", "ray", "--out", str(timing_dir / "ray")]) == 0
    local, remote = _steps(timing_dir / "local"), _steps(timing_dir / "ray")
    timing = re.compile(r"_ms|ratio|busy|run_id|worker_|command")  # the command names its --out
    same = [k for k in local[0] if not timing.search(k)]
    assert len(remote) == len(local) == 2 and [[r[k] for k in same] for r in remote] == [[r[k] for k in same] for r in local]
    assert all(r["worker_gpu_ids"] in ("0", "1") and r["step_ms_ratio"] for r in remote)  # one whole GPU each
    done = json.loads((timing_dir / "ray" / "run.json").read_text())["configs_done"]
    assert [d["batch"] for d in done] == [1] and all(d["worker_host"] for d in done)
    write_report(tmp_path / "results", tmp_path / "reports")  # the report reads a Ray run as it reads a local one
    assert "Run `ray`" in (tmp_path / "reports" / "cost.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--executor", "dask"], "--executor dask: expected one of local, ray"),
    (["--address", "auto"], "--address and --gpus-per-cell need --executor ray"),
    (["--executor", "ray", "--gpus-per-cell", "-1"], "--gpus-per-cell -1.0: expected a number >= 0"),
])
def test_bad_executor_options_one_line(args, message, tmp_path, capsys):
    assert main(["uplift", "--world", "toy", "--out", str(tmp_path / "u"), *args]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}" and not (tmp_path / "u").exists()


def test_slurm_script_parses_and_says_how_to_call_it():
    script = Path(__file__).resolve().parents[1] / "scripts" / "ray_slurm.sbatch"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert r.returncode == 2 and "usage: sbatch" in r.stderr and "--executor ray --address" in r.stderr
