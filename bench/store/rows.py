"""Append-only result rows that survive kill -9.

One JSON object per line. Rows come in cells: the rows one configuration
produced (one per sample of an uplift cell, or a single row), each carrying
the cell's `config_hash` and `cell_rows`, the number of rows the cell has. A
cell is written with a single `write` of all its lines followed by flush and
fsync, so after a crash the file holds complete cells plus at most one
incomplete final cell (possibly ending in a torn line). `RowStore` truncates
that tail before appending again and `read_rows` ignores it, so a resumed
sweep sees every finished cell exactly once.

A finished sweep can be packed (`python -m bench pack`, bench/store/pack.py):
its complete cells move, byte for byte, into `rows.jsonl.gz` beside, about a
tenth of the size. `read_rows` reads the packed rows first, then the live
file, which a resumed sweep appends to as before; a cell in both is refused.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
from pathlib import Path


def config_hash(config: dict) -> str:
    """Stable short hash of a configuration (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def strict(row: dict) -> dict:
    """The row as strict JSON allows: NaN and inf become null, and `nonfinite_values` says how many there were."""
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:
        return row
    return {**{k: (None if k in bad else v) for k, v in row.items()}, "nonfinite_values": len(bad)}


def packed_path(path: str | Path) -> Path:
    """Where a packed sweep keeps the rows of `path`: `rows.jsonl.gz` beside `rows.jsonl`."""
    path = Path(path)
    return path.with_name(path.name + ".gz")


def parse_lines(path: Path, keys: tuple[str, ...] = ("config_hash",), data: bytes | None = None) -> tuple[list[dict], list[int]]:
    """Complete rows and the byte offset where each starts; a torn last line is left out; every row has `keys`."""
    if data is None:
        data = path.read_bytes() if path.exists() else b""
    rows, starts, pos = [], [], 0
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        start, pos = pos, pos + len(line) + 1
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # only the last line can be torn
                break
            raise ValueError(f"{path}: line {i + 1} is not a JSON row; the file was edited or corrupted") from None
        if not isinstance(row, dict) or any(k not in row for k in keys):
            raise ValueError(f"{path}: line {i + 1} is not a result row (an object with {', '.join(keys) or 'fields'}); "
                             "the file was edited or corrupted")
        rows.append(row)
        starts.append(start)
    return rows, starts


def complete_prefix(rows: list[dict]) -> int:
    """How many leading rows form complete cells (only the last cell can be cut short)."""
    if not rows:
        return 0
    last = rows[-1].get("config_hash")
    first = len(rows)
    while first > 0 and rows[first - 1].get("config_hash") == last:
        first -= 1
    return len(rows) if len(rows) - first >= rows[-1].get("cell_rows", 1) else first


def packed_rows(path: str | Path, keys: tuple[str, ...] = ("config_hash",)) -> tuple[list[dict], bytes]:
    """The rows `bench pack` moved out of `path` and their bytes (nothing where the sweep was never packed)."""
    gz = packed_path(path)
    if not gz.exists():
        return [], b""
    try:
        data = gzip.decompress(gz.read_bytes())
    except (OSError, EOFError) as e:
        raise ValueError(f"{gz}: not a complete gzip file ({e}); restore it from version control") from None
    rows, _ = parse_lines(gz, keys, data)
    if len(rows) != complete_prefix(rows) or (data and not data.endswith(b"\n")):
        raise ValueError(f"{gz}: its last cell is incomplete; packed rows are sealed, so the file was edited or corrupted")
    return rows, data


def read_rows(path: str | Path, keys: tuple[str, ...] = ("config_hash",)) -> list[dict]:
    """Rows of complete cells, packed ones first; an incomplete last cell (a crash mid-write) is ignored; every row must have `keys`."""
    packed, _ = packed_rows(path, keys)
    rows, _ = parse_lines(Path(path), keys)
    rows = rows[:complete_prefix(rows)]
    twice = {r.get("config_hash") for r in packed} & {r.get("config_hash") for r in rows} - {None}
    if twice:
        raise ValueError(f"{path}: {len(twice)} cell(s) are also in {packed_path(path).name} (a `bench pack` cut short?); "
                         "run `python -m bench pack` on the folder again to finish it")
    return packed + rows


class RowStore:
    """Rows of one sweep in `path` (JSON lines)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_incomplete_tail()

    def _drop_incomplete_tail(self) -> None:
        if not self.path.exists():
            return
        rows, starts = parse_lines(self.path)
        keep = complete_prefix(rows)
        end = starts[keep] if keep < len(rows) else None
        size = self.path.stat().st_size
        if end is None:
            data = self.path.read_bytes()
            end = data.rfind(b"\n") + 1 if data and not data.endswith(b"\n") else size  # a torn last line
        if end < size:
            with open(self.path, "r+b") as f:
                f.truncate(end)

    def rows(self) -> list[dict]:
        return read_rows(self.path)

    def done(self) -> set[str]:
        return {r["config_hash"] for r in self.rows()}

    def append(self, rows: dict | list[dict]) -> None:
        """Write one cell's rows with one write and one fsync."""
        rows = [rows] if isinstance(rows, dict) else rows
        if not rows or any("config_hash" not in r for r in rows):
            raise ValueError("every row needs its 'config_hash'")
        line = "".join(json.dumps(strict(r), default=str, allow_nan=False) + "\n" for r in rows).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def runs_path(self) -> Path:
        """Beside the rows: one line of provenance per process that wrote rows (rows name it by `run_id`)."""
        return self.path.with_name(self.path.stem + ".runs.jsonl")

    def record_run(self, run: dict) -> None:
        with open(self.runs_path, "a") as f:
            f.write(json.dumps(run, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
