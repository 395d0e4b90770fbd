"""Rebuild every committed toy-world weight with one command: LDM, pixel scorer, guidance heads.

    python -m toyworld.build_all --out toyworld/weights --overwrite     # `make toyworld` (recipe v2)
    python -m toyworld.build_all --out /tmp/tw-check                    # a rebuild to compare:
    python -m toyworld.build_record toyworld/weights /tmp/tw-check
    python -m toyworld.build_all --recipe v1 --out /tmp/toy1/weights --reports /tmp/toy1/reports   # the first world

Recipes (`--recipe`, default v2) are in recipes.py. The build runs in stages
saved into `<out>.stages/` (or `--work`): rerun a killed build's command and it
resumes after its last finished stage, to the same bytes (stages.py); the
folder is removed once the build is complete.

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

from toyworld.stages import StageConfigMismatch

PARTS = ("ldm", "pixel_scorer", "heads", "BUILD.json")


def _pixel_job(cfg, folder: Path) -> dict:
    """The pixel scorer, a stage of the LDM build's second process (module level: the process is spawned)."""
    from toyworld.pixel_scorer import train

    (folder / "pixel_scorer").mkdir(parents=True)
    return train(cfg, folder / "pixel_scorer", log=lambda s: None)


def _heads_stage(ldm_dir: Path, cfg, disc, folder: Path) -> dict:
    from toyworld.build_heads import build_heads

    return build_heads(ldm_dir, folder / "heads", cfg, log=lambda s: None, disc=disc)


def build_all(out: str | Path, reports: str | Path = "reports", overwrite: bool = False, command: str = "",
              ldm_cfg=None, pixel_cfg=None, heads_cfg=None, disc_cfg=None, recipe: str = "v2", stages: str | Path | None = None,
              keep_stages: bool = False, stop_after: str | None = None) -> dict:
    """Build `recipe` (see recipes.py); tests may pass their own configs instead (recipe name "custom").

    Stages go to `stages` (default `<out>.stages`); a rerun of the same build resumes after the
    last finished stage, and the folder is removed once the build is complete (unless `keep_stages`).
    `stop_after` (tests): return None once that stage has finished, as if the build had been killed there.
    """
    import shutil

    from toyworld import stages as S
    from toyworld.build import build, check_out
    from toyworld.build_record import machine, versions, write_record
    from toyworld.recipes import RECIPES, Recipe

    if recipe not in RECIPES and recipe != "custom":
        raise ValueError(f"recipe {recipe!r}: expected one of {', '.join(RECIPES)}")
    base = RECIPES.get(recipe, Recipe())
    rec = Recipe(ldm_cfg or base.ldm, pixel_cfg or base.pixel_scorer, heads_cfg or base.heads, disc_cfg or base.discriminator)
    if recipe != "custom" and rec != base:
        recipe = "custom"
    out, reports = Path(out), Path(reports)
    check_out(out, overwrite, PARTS)
    root = Path(stages) if stages else S.default_stage_dir(out)
    torch.set_num_threads(1)
    start, load0 = time.perf_counter(), os.getloadavg()
    ldm = build(out / "ldm", reports, rec.ldm, command=f"{command} (LDM part)", overwrite=True,
                side_jobs={"pixel_scorer": (_pixel_job, (rec.pixel_scorer,))},
                after_save=("heads", _heads_stage, (rec.heads, rec.discriminator)), stages=root, recipe=recipe, stage_config=rec.as_dict(),
                stop_after=stop_after)
    if ldm is None:
        return None
    heads, pix = ldm["after_save"], ldm["side_jobs"]["pixel_scorer"]
    for name in ("pixel_scorer", "heads", "BUILD.json"):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    shutil.copytree(root / "pixel_scorer" / "pixel_scorer", out / "pixel_scorer")
    shutil.copytree(root / "heads" / "heads", out / "heads")
    times = {**ldm["times"], "pixel_scorer_train_s": pix["train_s"], "total_s": round(time.perf_counter() - start, 1)}
    record = {
        "command": command, "recipe": recipe, "times": times, "resumed_stages": ldm["resumed_stages"],
        "load_average_1min": {"start": round(load0[0], 2), "end": round(os.getloadavg()[0], 2)},
        "ldm": {"caption_check": ldm["caption_check"], "shape_classifier": ldm["shape_classifier"],
                "vae_recon_l1_heldout": ldm["vae_recon_l1_heldout"], "params": ldm["params"]},
        "pixel_scorer": {k: v for k, v in pix.items() if k != "train_s"},
        "heads": {"metrics": heads["metrics"], "spearman_truth_fresh": heads["spearman_truth_fresh"],
                  "discriminator": heads["discriminator"]["metrics"]},
        "versions": versions(), "machine": machine(), "threads_per_process": 1,
    }
    write_record(out, record)
    if not keep_stages:
        shutil.rmtree(root)
    return json.loads((out / "BUILD.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m toyworld.build_all", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("toyworld/weights"), help="folder for ldm/, pixel_scorer/, heads/ and BUILD.json")
    ap.add_argument("--reports", type=Path, default=Path("reports"), help="folder for the LDM's training CSVs and samples grid")
    ap.add_argument("--overwrite", action="store_true", help="replace a previous build in --out")
    ap.add_argument("--recipe", default="v2", help="a named recipe of toyworld/recipes.py: v2 (the committed weights), v1 (the first world), smoke")
    ap.add_argument("--work", type=Path, help="stage folder (default: <out>.stages); a rerun resumes from its last finished stage")
    ap.add_argument("--keep-stages", action="store_true", help="keep the stage folder after a complete build")
    args = ap.parse_args(argv)
    command = "python -m toyworld.build_all " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        rec = build_all(args.out, args.reports, args.overwrite, command.strip(), recipe=args.recipe, stages=args.work,
                        keep_stages=args.keep_stages)
    except (FileExistsError, ValueError, StageConfigMismatch) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cc = rec["ldm"]["caption_check"]
    print(f"[build_all] total {rec['times']['total_s']} s; colour match {cc['colour_match']:.3f}, shape match {cc['shape_match']:.3f}; "
          f"pixel scorer Spearman vs truth {rec['pixel_scorer']['val_spearman_truth']:.3f}; heads vs truth {rec['heads']['spearman_truth_fresh']}; "
          f"{rec['total_bytes'] / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
