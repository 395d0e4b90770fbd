"""Rebuild every committed toy-world weight with one command: LDM, pixel scorer, guidance heads.

    python -m toyworld.build_all --out toyworld/weights --overwrite     # `make toyworld`
    python -m toyworld.build_all --out /tmp/tw-check                    # a rebuild to compare:
    python -m toyworld.build_record toyworld/weights /tmp/tw-check

Two single-threaded processes share the work: the main one trains the VAE
and then the UNet; the second trains the caption check's shape classifier,
the pixel scorer (it does not depend on the LDM) and the tiny decoder
meanwhile. Once the LDM is saved, the main process trains the heads on its
features while the second runs the caption check. Every process is seeded and
single-threaded, so the files do not depend on how the processes share the
cores: the build is deterministic on a given machine and library versions
(`BUILD.json` records both).

Writes `<out>/ldm` (diffusers layout + its own BUILD.json), `<out>/pixel_scorer`,
`<out>/heads` and `<out>/BUILD.json`: times, metrics of every part, and the
size and hash of every file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

PARTS = ("ldm", "pixel_scorer", "heads", "BUILD.json")


def _pixel_job(cfg, out: str) -> dict:
    """The pixel scorer, in the LDM build's second process (module level: the process is spawned)."""
    from toyworld.pixel_scorer import train

    Path(out).mkdir(parents=True, exist_ok=True)
    return train(cfg, Path(out), log=lambda s: None)


def build_all(out: str | Path, reports: str | Path = "reports", overwrite: bool = False, command: str = "",
              ldm_cfg=None, pixel_cfg=None, heads_cfg=None) -> dict:
    """The committed weights use the default configs; tests pass small ones."""
    from toyworld.build import BuildConfig, build, prepare_out
    from toyworld.build_heads import HeadBuildConfig, build_heads
    from toyworld.build_record import machine, versions, write_record
    from toyworld.pixel_scorer import PixelScorerConfig

    out, reports = Path(out), Path(reports)
    prepare_out(out, overwrite, PARTS)
    torch.set_num_threads(1)
    start, load0 = time.perf_counter(), os.getloadavg()
    heads_cfg = heads_cfg or HeadBuildConfig()
    ldm = build(out / "ldm", reports, ldm_cfg or BuildConfig(), command=f"{command} (LDM part)",
                side_jobs={"pixel_scorer": (_pixel_job, (pixel_cfg or PixelScorerConfig(), str(out / "pixel_scorer")))},
                after_save=lambda ldm_dir: build_heads(ldm_dir, out / "heads", heads_cfg, log=lambda s: None))
    heads, pix = ldm["after_save"], ldm["side_jobs"]["pixel_scorer"]
    times = {**ldm["times"], "pixel_scorer_s": pix["train_s"], "heads_s": heads["seconds"],
             "total_s": round(time.perf_counter() - start, 1)}
    record = {
        "command": command, "times": times,
        "load_average_1min": {"start": round(load0[0], 2), "end": round(os.getloadavg()[0], 2)},
        "ldm": {"caption_check": ldm["caption_check"], "shape_classifier": ldm["shape_classifier"],
                "vae_recon_l1_heldout": ldm["vae_recon_l1_heldout"], "params": ldm["params"]},
        "pixel_scorer": {k: v for k, v in pix.items() if k != "train_s"},
        "heads": {"metrics": heads["metrics"], "spearman_truth_fresh": heads["spearman_truth_fresh"]},
        "versions": versions(), "machine": machine(), "threads_per_process": 1,
    }
    write_record(out, record)
    return json.loads((out / "BUILD.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m toyworld.build_all", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("toyworld/weights"), help="folder for ldm/, pixel_scorer/, heads/ and BUILD.json")
    ap.add_argument("--reports", type=Path, default=Path("reports"), help="folder for the LDM's training CSVs and samples grid")
    ap.add_argument("--overwrite", action="store_true", help="replace a previous build in --out")
    args = ap.parse_args(argv)
    command = "python -m toyworld.build_all " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        rec = build_all(args.out, args.reports, args.overwrite, command.strip())
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cc = rec["ldm"]["caption_check"]
    print(f"[build_all] total {rec['times']['total_s']} s; colour match {cc['colour_match']:.3f}, shape match {cc['shape_match']:.3f}; "
          f"pixel scorer Spearman vs truth {rec['pixel_scorer']['val_spearman_truth']:.3f}; heads vs truth {rec['heads']['spearman_truth_fresh']}; "
          f"{rec['total_bytes'] / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
