"""A sweep's identity, fixed when it is made: its configuration and the content of every file it reads.

Paths are recorded repository-relative (absolute outside the repository), so
the same sweep resumes from any working folder and committed sweeps name no
machine paths; each checkpoint, config and data file (a model folder as a
whole) is recorded by SHA-256, so a head replaced between runs is refused on
resume. An arm's `draw` (best-of-N, added after sweeps were committed) is
recorded only where it is not 0, so sweeps made before it keep their
identities. The code commit is not part of it: rows carry their own.
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from sdmodels.digests import digests
from bench.store.files import portable
from bench.uplift.config import Arm, UpliftConfig

SCORER_FILES = ("clip_arch", "clip_checkpoint", "aesthetic_mlp")
# Fields added after sweeps were committed: at their defaults (which is how the sweeps made before them ran) they
# stay out of the identity, so those sweeps still resume; set otherwise they are in it.
ADDED_LATER = {"guidance": ("recurrence", "iterations", "reuse_grad")}  # by part of the config
ARM_ADDED_LATER = ("draw",)  # an arm's (best-of-N draws)
JUDGE_ADDED_LATER = ("clip_text",)  # a judge's (the CLIP-text objective; default None)
ARM_DEFAULTS = {f.name: f.default for f in fields(Arm)}


def input_paths(cfg: UpliftConfig) -> dict[str, str]:
    """{role: path} of every file or folder the sweep reads."""
    out = {}
    if Path(cfg.model.source).exists():
        out["model"] = cfg.model.source
    for j in cfg.judges:
        if j.head:
            out[f"{j.kind}.head"], out[f"{j.kind}.head_meta"] = f"{j.head}.safetensors", f"{j.head}.json"
        for name in SCORER_FILES:
            value = getattr(j, name)
            if value and Path(value).is_file():
                out[f"{j.kind}.{name}"] = value
    return out


def identity(cfg: UpliftConfig) -> dict:
    """{"config": the configuration tree with portable paths, "inputs": {role: {"path", "sha256"}}}."""
    config = json.loads(json.dumps(asdict(cfg)))
    for part, names in ADDED_LATER.items():
        defaults = {f.name: f.default for f in fields(getattr(cfg, part))}
        for name in names:
            if config[part][name] == defaults[name]:
                del config[part][name]
    for arm in config["arms"]:
        for name in ARM_ADDED_LATER:
            if arm[name] == ARM_DEFAULTS[name]:
                del arm[name]
    for j in config["judges"]:
        for name in JUDGE_ADDED_LATER:
            if j.get(name) is None:
                j.pop(name, None)
    if Path(cfg.model.source).exists():
        config["model"]["source"] = portable(cfg.model.source)
    for j in config["judges"]:
        if j["head"]:
            j["head"] = portable(j["head"])
        for name in SCORER_FILES:
            if j[name] and Path(j[name]).is_file():
                j[name] = portable(j[name])
    paths = input_paths(cfg)
    return {"config": config, "inputs": {role: {"path": portable(p), "sha256": d} for (role, p), d in zip(paths.items(), digests(paths).values())}}


def _changed(old, new, prefix="") -> list[str]:
    """Dotted paths of the leaves that differ between two JSON trees."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [p for k in sorted(set(old) | set(new)) for p in _changed(old.get(k), new.get(k), f"{prefix}{k}.")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new)) for p in _changed(a, b, f"{prefix}{i}.")]
    return [] if old == new else [prefix.rstrip(".")]


def check_same_sweep(path: Path, new: dict) -> None:
    """Resuming with other settings or other files would mix two sweeps in one folder: refuse, naming what changed."""
    try:
        old = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); the sweep's identity is lost: start it again in another --out") from None
    changed = _changed(old.get("config"), new["config"])
    if changed:
        raise ValueError(f"{path} was written by a sweep with other settings ({', '.join(changed)}); use another --out")
    files = sorted(r for r in set(old.get("inputs", {})) | set(new["inputs"])
                   if old.get("inputs", {}).get(r, {}).get("sha256") != new["inputs"].get(r, {}).get("sha256"))
    if files:
        what = ", ".join(f"{r} ({new['inputs'].get(r, old['inputs'].get(r, {})).get('path')})" for r in files)
        raise ValueError(f"{path}: files changed since the sweep was made: {what}; use another --out for the new files")
