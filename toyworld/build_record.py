"""BUILD.json: what `toyworld.build` made, how long it took, and a hash of every file it wrote.

The hashes let a reader check that committed weights are what the build
command produces (README.md, "Checking the committed weights"): rebuild into a
scratch folder and compare, or just check that the committed files still match
their record:

    python -m toyworld.build_record toyworld/weights/ldm          # files vs BUILD.json, exit 1 on a mismatch
    python -m toyworld.build_record toyworld/weights/ldm /tmp/tw   # two builds, file by file
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

RECORD_FILE = "BUILD.json"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_table(folder: str | Path) -> dict[str, dict]:
    """{relative path: {bytes, sha256}} of every file under folder except BUILD.json, sorted."""
    folder = Path(folder)
    rows = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != RECORD_FILE):
        rows[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    return rows


def versions() -> dict[str, str]:
    import diffusers
    import numpy
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "numpy": numpy.__version__}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def write_record(folder: str | Path, record: dict) -> Path:
    folder = Path(folder)
    files = file_table(folder)
    full = {**record, "files": files, "total_bytes": sum(f["bytes"] for f in files.values())}
    path = folder / RECORD_FILE
    path.write_text(json.dumps(full, indent=1) + "\n")
    return path


def read_record(folder: str | Path) -> dict:
    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: expected a folder written by `python -m toyworld.build`")
    return json.loads(path.read_text())


def mismatches(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    """Human-readable differences between two file tables (empty when identical)."""
    out = [f"missing: {k}" for k in expected if k not in actual]
    out += [f"unrecorded: {k}" for k in actual if k not in expected]
    out += [f"differs: {k}" for k in expected if k in actual and expected[k]["sha256"] != actual[k]["sha256"]]
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m toyworld.build_record FOLDER [OTHER_FOLDER]", file=sys.stderr)
        return 2
    expected = read_record(args[0])["files"]
    actual = file_table(args[-1]) if len(args) == 2 else file_table(args[0])
    bad = mismatches(expected, actual)
    for line in bad:
        print(line)
    print(f"{len(expected) - len(bad)} of {len(expected)} files match" if bad else f"all {len(expected)} files match")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
