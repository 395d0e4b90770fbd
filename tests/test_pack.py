"""Packed sweeps: rows.jsonl into rows.jsonl.gz byte for byte, read and resumed as before, a pack cut short loses nothing."""
import gzip
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.store.lock import FolderLock
from bench.store.pack import pack
from bench.store.rows import RowStore, read_rows

ROOT = Path(__file__).resolve().parents[1]
UP = ["uplift", "--backends", "none", "midu", "--steps", "1", "--seeds", "2", "--chunk", "2", "--quiet"]


def _cells(n, rows_per_cell=2, start=0):
    return [[{"config_hash": f"c{i}", "cell_rows": rows_per_cell, "status": "ok", "seed": s, "v": i + s / 3}
             for s in range(rows_per_cell)] for i in range(start, start + n)]


def _store(folder, cells):
    store = RowStore(folder / "rows.jsonl")
    for cell in cells:
        store.append(cell)
    return store


def test_a_resumed_packed_sweep_runs_only_the_missing_cell_and_repacks(tmp_path, capsys):
    out = tmp_path / "u"
    assert main([*UP, "--scales", "1", "--out", str(out)]) == 0
    whole, lines = read_rows(out / "rows.jsonl"), (out / "rows.jsonl").read_bytes().splitlines(keepends=True)
    first = b"".join(x for x, r in zip(lines, whole) if r["config_hash"] == whole[0]["config_hash"])
    (out / "rows.jsonl").write_bytes(first)  # as if killed after the first cell
    assert main(["pack", str(out)]) == 0 and "1 cell(s) packed, 0 packed before" in capsys.readouterr().out
    assert not (out / "rows.jsonl").exists() and gzip.decompress((out / "rows.jsonl.gz").read_bytes()) == first
    assert main([*UP, "--scales", "1", "--resume", "--out", str(out)]) == 0  # the missing cell, appended to a live rows.jsonl
    assert "1 cells run, 1 already done" in capsys.readouterr().out and (out / "rows.jsonl").exists()
    assert main(["pack", str(out)]) == 0 and "1 cell(s) packed, 1 packed before" in capsys.readouterr().out
    rows = read_rows(out / "rows.jsonl")
    assert not (out / "rows.jsonl").exists() and len(rows) == len(whole) == 4
    assert [(r["backend"], r["seed"], r["judge_midblock"]) for r in rows] == [(r["backend"], r["seed"], r["judge_midblock"]) for r in whole]
    assert main([*UP, "--scales", "1", "--resume", "--out", str(out)]) == 0 and "0 cells run, 2 already done" in capsys.readouterr().out


def test_packing_is_deterministic_and_a_pack_cut_short_is_refused_then_finished(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _store(a, _cells(3))
    _store(b, _cells(3))
    raw = (a / "rows.jsonl").read_bytes()
    assert pack(a) == (3, 0) and pack(b) == (3, 0)
    assert (a / "rows.jsonl.gz").read_bytes() == (b / "rows.jsonl.gz").read_bytes()  # no time or name in the gzip header
    (a / "rows.jsonl").write_bytes(raw)  # killed after the rename, before the live file went
    with pytest.raises(ValueError, match="3 cell\\(s\\) are also in rows.jsonl.gz .* bench pack"):
        read_rows(a / "rows.jsonl")
    assert pack(a) == (0, 3) and len(read_rows(a / "rows.jsonl")) == 6 and not (a / "rows.jsonl").exists()


def test_pack_refuses_unfinished_disagreeing_corrupt_and_busy_sweeps(tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    _store(unfinished, _cells(2))
    with open(unfinished / "rows.jsonl", "ab") as f:
        f.write(b'{"config_hash": "c9", "cell_rows": 2, "status": "ok"}\n')  # one row of a two-row cell: killed mid-cell
    assert main(["pack", str(unfinished)]) == 2
    assert "its last cell is unfinished; resume the sweep" in capsys.readouterr().err
    assert (unfinished / "rows.jsonl").exists() and not (unfinished / "rows.jsonl.gz").exists()

    other = tmp_path / "other"
    _store(other, _cells(2))
    pack(other)
    _store(other, [[{**r, "v": -1} for r in _cells(1)[0]]])  # cell c0 again, with other values
    with pytest.raises(ValueError, match="cell c0 is also packed, with other rows"):
        pack(other)

    corrupt = tmp_path / "corrupt"
    _store(corrupt, _cells(2))
    pack(corrupt)
    data = (corrupt / "rows.jsonl.gz").read_bytes()
    (corrupt / "rows.jsonl.gz").write_bytes(data[:-12])
    with pytest.raises(ValueError, match="rows.jsonl.gz: not a complete gzip file"):
        read_rows(corrupt / "rows.jsonl")

    busy = tmp_path / "busy"
    _store(busy, _cells(1))
    with FolderLock(busy):
        with pytest.raises(ValueError, match="is being written by pid"):
            pack(busy)
    assert main(["pack", str(busy), str(tmp_path / "nothing")]) == 2  # every folder checked before any is packed
    assert f"{tmp_path / 'nothing'}: no rows.jsonl (expected a sweep folder" in capsys.readouterr().err
    assert (busy / "rows.jsonl").exists()


def test_the_committed_sweeps_are_packed_and_read_whole():
    """Committed sweeps keep their rows packed (the tracked tree must fit the GPU machine's 64 MiB transfer), every cell complete."""
    root = ROOT / "results" / "uplift"
    sweeps = sorted(p.parent for p in root.glob("*/config.json"))
    assert len(sweeps) >= 6 and not list(root.glob("*/rows.jsonl"))
    for s in sweeps:
        rows = read_rows(s / "rows.jsonl")
        assert rows and all(r["status"] in ("ok", "oom") for r in rows), s.name


def test_the_readme_recipe_as_written(capsys, monkeypatch):
    """The README's two lines, run in the repository on the committed main sweep: nothing to pack, pandas reads every row."""
    section = (ROOT / "README.md").read_text().split("A finished sweep can be packed", 1)[1]
    pack_line, read_line = [x.split("  #")[0] for x in section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines() if x.strip()]
    argv = shlex.split(pack_line)
    assert argv[:3] == ["python", "-m", "bench"]
    gz = ROOT / argv[-1] / "rows.jsonl.gz"
    before = gz.read_bytes()
    monkeypatch.chdir(ROOT)
    assert main(argv[3:]) == 0 and "0 cell(s) packed, 424 packed before" in capsys.readouterr().out and gz.read_bytes() == before
    out = subprocess.run([sys.executable, *shlex.split(read_line)[1:]], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(rf"\({len(read_rows(gz.with_suffix('')))}, \d+\)\n", out)
