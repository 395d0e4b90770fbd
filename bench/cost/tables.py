"""The cost run's tables: CSV files of flat rows, and the short table printed per configuration."""
from __future__ import annotations

import csv
from pathlib import Path


def write_csv(path: Path, rows: list[dict]) -> None:
    """Flat rows with the union of their keys as columns; no rows, an empty file (no profile asked for)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    if not keys:
        path.write_text("")
        return
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def format_table(rows: list[dict], title: str) -> str:
    """A short plain-text table for the terminal (the device tool returns the output's end)."""
    lines = [title, f"{'backend':<14}{'mode':<8}{'step_ms':>9}{'ratio':>7}{'lo-hi':>12}{'busy_ms':>9}{'peak_GiB':>9}{'extra':>7}  status"]
    def f(r, k, spec):
        width = int(spec.split(".")[0])
        return format(r[k], spec) if r.get(k) is not None else "-".rjust(width)

    for r in rows:
        spread = f"{r['step_ms_ratio_lo']:.2f}-{r['step_ms_ratio_hi']:.2f}" if r.get("step_ms_ratio_lo") is not None else "-"
        lines.append(f"{r['backend']:<14}{r['mode']:<8}{f(r, 'step_ms', '9.2f')}{f(r, 'step_ms_ratio', '7.2f')}{spread:>12}"
                     f"{f(r, 'gpu_busy_ms', '9.2f')}{f(r, 'peak_alloc_gib', '9.3f')}{f(r, 'extra_peak_mem_gib', '7.3f')}  {r['status']}")
    return "\n".join(lines)
