"""reports/headline.json: the few numbers a reader wants first, merged from several reports.

Each report owns some keys per backend (cost: latency_ratio, extra_peak_mem_gib;
toy world: gt_uplift, win_rate, ...); merging keeps the others' keys.
"""
from __future__ import annotations

import json
from pathlib import Path


def merge_headline(path: str | Path, section: str, per_backend: dict[str, dict], about: dict | None = None) -> dict:
    """Set `per_backend[backend][key]` under "backends" and `about` under `section`, keeping everything else."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    backends = data.setdefault("backends", {})
    for name, values in per_backend.items():
        backends.setdefault(name, {}).update(values)
    if about is not None:
        data.setdefault("sources", {})[section] = about
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data
