"""`python -m bench pack`: a finished sweep's rows.jsonl into rows.jsonl.gz, byte for byte (about a tenth of the size).

    python -m bench pack results/uplift/toy

Every command reads a packed sweep as before (the packed rows first, then any
rows.jsonl a resumed sweep appends); packing again moves the new cells in.
Refused while a sweep writes into the folder or while its last cell is
unfinished (resume it first).
"""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("pack", help="compress a finished sweep's rows (rows.jsonl -> rows.jsonl.gz)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweeps", nargs="+", metavar="SWEEP", help="sweep folders (written by bench uplift --out)")
    p.set_defaults(func=run)


def run(a) -> int:
    from bench.store.pack import check, pack

    for folder in a.sweeps:  # every folder named is a sweep, before any is packed
        check(folder)
    for folder in a.sweeps:
        added, before = pack(folder)
        print(f"{folder}: {added} cell(s) packed, {before} packed before -> {folder.rstrip('/')}/rows.jsonl.gz")
    return 0
