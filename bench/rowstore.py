"""Append-only result rows that survive kill -9.

One JSON object per line, keyed by the hash of its configuration. A row is
written with a single `write` of a whole line followed by flush and fsync, so
after a crash the file holds complete rows plus at most one torn final line.
`read_rows` drops a torn line (and `RowStore` truncates it before appending
again), so a resumed sweep sees every finished row exactly once.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def config_hash(config: dict) -> str:
    """Stable short hash of a configuration (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_rows(path: str | Path) -> list[dict]:
    """Complete rows of a store; a torn last line (a crash mid-write) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_bytes().split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # only the last line can be torn
                break
            raise ValueError(f"{path}: line {i + 1} is not a JSON row; the file was edited or corrupted") from None
    return rows


class RowStore:
    """Rows of one sweep in `path` (JSON lines)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()

    def _drop_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1  # 0 when the only line is torn
            with open(self.path, "r+b") as f:
                f.truncate(keep)

    def rows(self) -> list[dict]:
        return read_rows(self.path)

    def done(self) -> set[str]:
        return {r["config_hash"] for r in self.rows()}

    def append(self, row: dict) -> None:
        if "config_hash" not in row:
            raise ValueError("a row needs its 'config_hash'")
        line = (json.dumps(row, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
