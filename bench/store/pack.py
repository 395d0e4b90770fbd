"""Pack a finished sweep's rows: `rows.jsonl` moves, byte for byte, into `rows.jsonl.gz` (about a tenth of the size).

Sweeps that are committed would otherwise hold tens of MB of JSON lines. The
packed file is written whole (a temporary file, fsync, rename), and only then
is the live file removed, so a pack cut short at any point loses nothing: the
cells it left in both places are recognised by the next pack (they must be
equal) and refused by every reader until then. Packing again after a
resumed sweep added cells appends them. The gzip header holds no time or name,
so the same rows always pack to the same bytes.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

from bench.store.lock import FolderLock
from bench.store.rows import complete_prefix, packed_path, packed_rows, parse_lines


def _cells(rows: list[dict], starts: list[int] | None = None, data: bytes = b"") -> dict[str, tuple[list[dict], bytes]]:
    """Each cell's rows and, where `starts` are given, its lines as they were written in `data`, by config_hash."""
    ends = (starts or [])[1:] + [len(data)]
    rows_of: dict[str, list[dict]] = {}
    lines_of: dict[str, list[bytes]] = {}
    for i, r in enumerate(rows):
        rows_of.setdefault(r["config_hash"], []).append(r)
        lines_of.setdefault(r["config_hash"], []).append(data[starts[i]:ends[i]] if starts else b"")
    return {k: (v, b"".join(lines_of[k])) for k, v in rows_of.items()}


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check(folder: str | Path) -> Path:
    """`folder/rows.jsonl`, where `folder` is a sweep (live or packed rows); else a ValueError naming it."""
    live = Path(folder) / "rows.jsonl"
    if not live.exists() and not packed_path(live).exists():
        raise ValueError(f"{folder}: no rows.jsonl (expected a sweep folder written by `bench uplift --out`)")
    return live


def pack(folder: str | Path) -> tuple[int, int]:
    """Move the complete cells of `folder/rows.jsonl` into `folder/rows.jsonl.gz`; (cells added, cells already packed)."""
    folder = Path(folder)
    live = check(folder)
    gz = packed_path(live)
    with FolderLock(folder):
        packed, old = packed_rows(live)
        data = live.read_bytes() if live.exists() else b""
        rows, starts = parse_lines(live, data=data)
        if complete_prefix(rows) < len(rows) or (data and not data.endswith(b"\n")):
            raise ValueError(f"{live}: its last cell is unfinished; resume the sweep (same command, --resume) before packing")
        have = _cells(packed)
        new = []
        for cell, (cell_rows, lines) in _cells(rows, starts, data).items():
            if cell not in have:
                new.append(lines)
            elif cell_rows != have[cell][0]:
                raise ValueError(f"{live}: cell {cell} is also packed, with other rows; the two files disagree")
        added, new = len(new), b"".join(new)
        if new:
            tmp = gz.with_name(gz.name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(gzip.compress(old + new, compresslevel=9, mtime=0))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, gz)
            _fsync_dir(folder)
        if live.exists():
            live.unlink()
            _fsync_dir(folder)
    return added, len(have)
