"""Paths as results record them: naming no machine."""
from __future__ import annotations

from pathlib import Path

from bench.store.provenance import REPO_ROOT


def portable(path: str | Path) -> str:
    """A path as recorded in results: relative to the repository when inside it, else absolute."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)
