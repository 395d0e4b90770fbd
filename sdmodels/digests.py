"""Content hashes of the files a result reads, computed once per file version.

A sweep's identity names each checkpoint and data file by its SHA-256, so a
file replaced between runs is noticed on resume. Hashing a multi-GB checkpoint
on every resume would be slow, so digests are cached by (absolute path, size,
modification time) in `~/.cache/guidance-bench/digests.json` (`$XDG_CACHE_HOME`
honoured); any change of size or mtime rehashes.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sdmodels.files import write_atomic

CHUNK = 1 << 22


def cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "guidance-bench" / "digests.json"


def _load() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only costs a rehash


def file_digest(path: str | Path, cache: dict | None = None) -> str:
    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
    if cache is not None and key in cache:
        return cache[key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = digest
    return digest


def digest(path: str | Path, cache: dict | None = None) -> str:
    """A file's SHA-256; a folder's is the hash of its files' relative paths and digests (dotfiles left out)."""
    p = Path(path)
    if p.is_file():
        return file_digest(p, cache)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file() and not any(part.startswith(".") for part in q.relative_to(p).parts)):
        h.update(f"{f.relative_to(p).as_posix()}\0{file_digest(f, cache)}\n".encode())
    return h.hexdigest()


def digests(paths: dict[str, str]) -> dict[str, str]:
    """{role: digest} for {role: path}, through the on-disk cache."""
    cache = _load()
    before = dict(cache)
    out = {role: digest(p, cache) for role, p in paths.items()}
    if cache != before:
        write_atomic(cache_path(), json.dumps(cache))
    return out
