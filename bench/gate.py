"""The regression gate: compare current result rows with a baseline's, figure by figure.

Rows are matched on their configuration columns (`CONFIG`, those a row has),
and every figure in `GATED` that a baseline row holds is compared with stated
tolerances. Only figures that do not drift between machines are gated: the
exact cost-model figures (FLOPs and saved bytes depend on shapes alone, so
any change is a change in the code) and, for timing rows, ratios to the
unguided step measured in the same run and memory above the weights; never
absolute times. A figure worse than its baseline by more than the tolerance
is a regression; better by more is reported as an improvement and passes;
a baseline row the current results lack is an error (unless `subset`).

    python -m bench gate --baseline results/costmodel --current out/costmodel
    python -m bench gate --baseline results/h100/cost.jsonl --current out/cost.jsonl
    python -m bench gate --baseline results/costmodel --current out/ci-costmodel --subset
    python -m bench gate --baseline .benchmarks/Linux-CPython-3.11-64bit/0001_h100.json --current out/bench.json

pytest-benchmark JSON files (`--benchmark-save`, `--benchmark-json`) give one
row per case: its extra_info's configuration and figures (`step_ms_ratio`
among them, benchmarks/conftest.py), never its absolute times.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.store.rows import read_rows

CONFIG = ("model", "backend", "batch", "height", "width", "dtype", "attention", "mode")


@dataclass(frozen=True)
class Tolerance:
    rel: float  # allowed change, relative to the baseline value
    better: str = "lower"  # the direction of an improvement: "lower" or "higher"
    abs: float = 0.0  # floor on the allowed change in the figure's own unit (baselines near zero)

    def __post_init__(self):
        if self.better not in ("lower", "higher"):
            raise ValueError(f"better={self.better!r}: expected 'lower' or 'higher'")

    def allowed(self, base: float) -> float:
        return max(self.rel * abs(base), self.abs)

    def label(self) -> str:
        if self.rel == 0 and self.abs == 0:
            return "(exact)"
        sign = "+" if self.better == "lower" else "-"
        floor = f", at least {self.abs:g}" if self.abs else ""
        return f"{sign}{self.rel:.0%}{floor}"


# figure -> tolerance. Exact figures: FlopCounterMode formulas and storage sizes are integers of the shapes.
# Ratios to unguided: the prototype's graph-replayed rounds agreed to 0.1%, so 5% is far outside noise
# there (eager ratios swung by 30%: gate graph-replay or GPU-busy-time rows, not eager wall time).
# Memory above the weights was stable to the MiB: 5%, with a 50 MiB floor for baselines near zero.
GATED = {
    "total_flops": Tolerance(0.0),
    "bwd_flops": Tolerance(0.0),
    "saved_bytes": Tolerance(0.0),
    "step_ms_ratio": Tolerance(0.05),
    "extra_peak_mem_gib": Tolerance(0.05, abs=0.05),
}


@dataclass
class GateResult:
    regressions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    rows_compared: int = 0
    figures_compared: int = 0
    rows_skipped: int = 0  # baseline rows not recomputed (subset mode)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing

    def lines(self) -> list[str]:
        verdict = "PASS" if self.ok else "FAIL"
        skipped = f", {self.rows_skipped} baseline rows not recomputed" if self.rows_skipped else ""
        return [*self.regressions, *self.missing, *self.improvements, *self.new,
                f"gate {verdict}: {self.rows_compared} rows, {self.figures_compared} figures compared{skipped}; "
                f"{len(self.regressions)} regressions, {len(self.missing)} missing, {len(self.improvements)} improvements"]


def _value(text: str):
    """A CSV cell as int, float or str ('' stays '')."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _benchmark_json(path: Path) -> dict | None:
    """A pytest-benchmark output file's JSON, or None for any other JSON (a run's metadata)."""
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path}: not a JSON file") from None
    if isinstance(data, dict) and isinstance(data.get("benchmarks"), list) and "machine_info" in data:
        return data
    return None


def benchmark_rows(data: dict) -> list[dict]:
    """One row per pytest-benchmark case: its extra_info's plain values (the time statistics stay out: never gated)."""
    return [{k: v for k, v in case.get("extra_info", {}).items() if isinstance(v, (int, float, str, bool))}
            for case in data["benchmarks"]]


def _read_file(path: Path) -> list[dict]:
    if path.suffix == ".json":
        data = _benchmark_json(path)
        if data is None:
            raise ValueError(f"{path}: a JSON file but not pytest-benchmark output (no 'benchmarks' and 'machine_info')")
        return benchmark_rows(data)
    if path.suffix == ".csv":
        try:
            with open(path, newline="") as f:
                return [{k: _value(v) for k, v in row.items() if k is not None} for row in csv.DictReader(f)]
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a text CSV file") from None
    if path.suffix == ".jsonl":
        return read_rows(path, keys=())  # any JSON-lines rows; sweeps' own carry config_hash
    raise ValueError(f"{path}: expected a .csv, .jsonl or pytest-benchmark .json results file, or a folder holding them")


def _result_files(folder: Path) -> list[Path]:
    """.csv/.jsonl files and pytest-benchmark .json files under `folder`; other JSON (run metadata) is skipped."""
    found = sorted(p for p in folder.rglob("*") if p.suffix in (".csv", ".jsonl", ".json") and p.is_file())
    return [p for p in found if p.suffix != ".json" or _benchmark_json(p) is not None]


def read_results(path: str | Path) -> list[dict]:
    """Rows of a results file, or of every results file under a folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results not found: {path}")
    files = _result_files(path) if path.is_dir() else [path]
    rows = [r for f in files for r in _read_file(f)]
    if not rows:
        raise ValueError(f"{path}: no result rows (expected .csv or .jsonl rows with a header, or pytest-benchmark .json)")
    return rows


def _norm(v):
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _key(row: dict) -> tuple:
    return tuple((c, _norm(row[c])) for c in CONFIG if row.get(c) not in (None, ""))


def _present(v) -> bool:
    return v is not None and v != "" and not (isinstance(v, float) and math.isnan(v))


def index(rows: list[dict], where: str) -> dict[tuple, dict]:
    """Rows by configuration; rows sharing one (e.g. a cost row and a timing row) merge if they agree."""
    out: dict[tuple, dict] = {}
    for row in rows:
        key = _key(row)
        if not key:
            raise ValueError(f"{where}: a row has none of the configuration columns {CONFIG}")
        merged = out.setdefault(key, {})
        for fig, v in row.items():
            if fig in GATED and _present(v) and _present(merged.get(fig)) and merged[fig] != v:
                raise ValueError(f"{where}: two rows for {label(key)} disagree on {fig} ({merged[fig]} vs {v}); "
                                 f"the gate keys rows on {CONFIG}")
        merged.update({k: v for k, v in row.items() if _present(v) or k not in merged})
    return out


def label(key: tuple) -> str:
    """'midu sd21-base b4 512px fp16' and any further configuration values."""
    k = dict(key)
    size = f"{k.get('height')}px" if k.get("height") == k.get("width") else f"{k.get('height')}x{k.get('width')}px"
    parts = [k.get("backend"), k.get("model"), f"b{k['batch']}" if "batch" in k else None,
             size if "height" in k else None, k.get("dtype")]
    parts += [str(v) for c, v in key if c not in ("backend", "model", "batch", "height", "width", "dtype")]
    return " ".join(str(p) for p in parts if p is not None)


def _fmt(v) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4g}"


def compare(baseline: list[dict], current: list[dict], subset: bool = False) -> GateResult:
    """Gate `current` against `baseline`; with `subset`, baseline rows current lacks are skipped, not missing."""
    base, cur = index(baseline, "baseline"), index(current, "current")
    res = GateResult()
    for key, b in base.items():
        where = label(key)
        c = cur.get(key)
        if c is None:
            if subset:
                res.rows_skipped += 1
            else:
                res.missing.append(f"MISSING {where}: in the baseline, not in the current results")
            continue
        res.rows_compared += 1
        if b.get("status", "ok") == "ok" and c.get("status", "ok") != "ok":
            res.regressions.append(f"REGRESSION {where}: status {c['status']} (baseline ok)")
            continue
        for fig, tol in GATED.items():
            if not _present(b.get(fig)):
                continue
            if not _present(c.get(fig)):
                res.missing.append(f"MISSING {where}: {fig} (baseline {_fmt(b[fig])}) absent from the current row")
                continue
            res.figures_compared += 1
            worse = (c[fig] - b[fig]) if tol.better == "lower" else (b[fig] - c[fig])
            if worse > tol.allowed(b[fig]):
                op = ">" if tol.better == "lower" else "<"
                res.regressions.append(f"REGRESSION {where}: {fig} {_fmt(c[fig])} {op} baseline {_fmt(b[fig])} {tol.label()}")
            elif worse < 0 and -worse > tol.allowed(b[fig]):
                res.improvements.append(f"IMPROVED {where}: {fig} {_fmt(c[fig])} vs baseline {_fmt(b[fig])}")
    if res.rows_compared == 0:
        raise ValueError("no configuration of the baseline is in the current results: nothing to compare")
    res.new = [f"NEW {label(k)}: not in the baseline" for k in cur if k not in base]
    return res
