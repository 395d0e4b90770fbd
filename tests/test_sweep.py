"""Sweeps survive: SIGKILL mid-sweep then --resume gives every row once; OOM becomes a row; torn lines are dropped."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from bench.store.rows import RowStore, config_hash, read_rows
from bench.store.sweep import run_sweep

VICTIM = textwrap.dedent(
    """
    import sys, time
    from bench.store.rows import RowStore
    from bench.store.sweep import run_sweep

    def run_one(c):
        time.sleep(0.05)
        return {"value": c["i"] * 2}

    run_sweep([{"i": i} for i in range(40)], run_one, RowStore(sys.argv[1]), resume=sys.argv[2] == "resume")
    """
)


def _start(path, mode):
    return subprocess.Popen([sys.executable, "-c", VICTIM, str(path), mode], cwd=os.getcwd())


def test_sigkill_then_resume_has_every_row_exactly_once(tmp_path):
    path = tmp_path / "rows.jsonl"
    p = _start(path, "fresh")
    deadline = time.time() + 120
    while (not path.exists() or len(read_rows(path)) < 5) and time.time() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n_before = len(read_rows(path))
    assert 5 <= n_before < 40
    # simulate the worst moment: killed half-way through writing a row
    with open(path, "ab") as f:
        f.write(b'{"i": 999, "val')
    assert _start(path, "resume").wait(timeout=120) == 0
    rows = read_rows(path)
    assert sorted(r["i"] for r in rows) == list(range(40))
    assert all(r["value"] == 2 * r["i"] and r["status"] == "ok" for r in rows)
    assert len({r["config_hash"] for r in rows}) == 40


def test_refuses_to_mix_into_an_existing_sweep_without_resume(tmp_path):
    store = RowStore(tmp_path / "r.jsonl")
    run_sweep([{"i": 0}], lambda c: {}, store)
    with pytest.raises(ValueError, match="already holds 1 rows: pass --resume"):
        run_sweep([{"i": 1}], lambda c: {}, store)


def test_out_of_memory_becomes_a_row_and_the_sweep_goes_on(tmp_path):
    def run_one(c):
        if c["batch"] == 8:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return {"step_ms": 1.0}

    store = RowStore(tmp_path / "r.jsonl")
    s = run_sweep([{"batch": b} for b in (1, 8, 2)], run_one, store)
    rows = store.rows()
    assert (s.ran, s.oom) == (3, 1)
    assert [r["status"] for r in rows] == ["ok", "oom", "ok"]
    assert "out of memory" in rows[1]["error"] and "mem_at_failure_gib" in rows[1]
    assert rows[0]["git_commit"] is not None  # flat: the full provenance is written once per run, beside the rows
    runs = [json.loads(line) for line in store.runs_path.read_text().splitlines()]
    assert [r["run_id"] for r in runs] == [rows[0]["run_id"]] and runs[0]["torch_version"]


def test_a_cell_cut_short_mid_write_is_dropped_whole(tmp_path):
    """A cell of several rows is one write: a crash inside it leaves a partial cell, which resume runs again."""
    path = tmp_path / "rows.jsonl"
    store = RowStore(path)
    run_sweep([{"cell": c} for c in range(2)], lambda c: [{"cell": c["cell"], "seed": s} for s in range(3)], store)
    with open(path, "ab") as f:  # the next cell's first two rows made it, the third is torn
        f.write(b"".join(json.dumps({"cell": 9, "seed": s, "config_hash": "x", "cell_rows": 3}).encode() + b"\n" for s in range(2)))
        f.write(b'{"cell": 9, "se')
    assert [r["cell"] for r in read_rows(path)] == [0, 0, 0, 1, 1, 1]
    RowStore(path)  # opening for append truncates the partial cell
    assert path.read_bytes().count(b"\n") == 6 and path.read_bytes().endswith(b"\n")


def test_rows_are_keyed_by_config_hash():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_corruption_before_the_last_line_is_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"config_hash": "a"}\nnot json\n{"config_hash": "b"}\n')
    with pytest.raises(ValueError, match="line 2 is not a JSON row"):
        read_rows(path)
