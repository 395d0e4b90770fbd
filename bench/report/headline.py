"""reports/headline.json: the few numbers a reader wants first, merged from several reports.

Each report owns some keys per backend (cost: latency_ratio, extra_peak_mem_gib;
toy world: gt_uplift, win_rate, ...); merging keeps the others' keys.
"""
from __future__ import annotations

import json
from pathlib import Path

from sdmodels.files import write_atomic


def merge_headline(path: str | Path, section: str, per_backend: dict[str, dict], about: dict | None = None) -> dict:
    """Set `per_backend[backend][key]` under "backends" and `about` under `section`, keeping the other sections' keys.

    The keys a section wrote last time are listed in its source (`keys`) and removed first, so a key the
    section no longer writes (a renamed figure, a backend left out) does not linger beside the new ones.
    """
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    backends = data.setdefault("backends", {})
    sources = data.setdefault("sources", {})
    stale = set(sources.get(section, {}).get("keys", []))
    for values in backends.values():
        for key in stale & set(values):
            del values[key]
    for name, values in per_backend.items():
        backends.setdefault(name, {}).update(values)
    data["backends"] = {k: v for k, v in backends.items() if v}
    written = sorted({k for values in per_backend.values() for k in values})
    sources[section] = {**(about if about is not None else sources.get(section, {})), "keys": written}
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data
