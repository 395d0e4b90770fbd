"""Feature shards on disk: the manifest, atomic writes, and which shards an interrupted run already finished.

`shard-00000.safetensors`, ... plus `manifest.json` (model, shapes, timestep
range, noise seed, data hash, shards done); see scorers/features.py.
"""

import json
import os
from pathlib import Path

FORMAT = "guidance-bench mid-block features v1"
MANIFEST = "manifest.json"


def write_atomic(path: Path, write) -> None:
    """`write(tmp_path)` then rename: a reader (or a resumed run) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_manifest(out: Path, manifest: dict) -> None:
    write_atomic(out / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=2) + "\n"))


def read_manifest(out: str | Path) -> dict:
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no feature manifest at {path}: run python -m scorers.features first")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} has format {manifest.get('format')!r}; expected {FORMAT!r}")
    return manifest


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


def resume_state(out: Path, new: dict) -> list[str]:
    """Shards already done by an earlier run with the same settings; refuses a folder of another run."""
    if not (out / MANIFEST).is_file():
        return []
    old = read_manifest(out)
    if diff := {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}:
        first = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in list(diff.items())[:3])
        raise ValueError(f"{out} holds features of a different run ({first}); use another --out or delete it")
    return [s for s in old["shards_done"] if (out / s).is_file()]
