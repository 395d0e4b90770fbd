"""Options several subcommands share, defined once: how a user's checkpoint is read, and the CLIP-text objective.

    add_model_options(parser)        # --variant, --model-config (fp16 variant folders, single-file checkpoints)
    add_image_scorer_options(parser) # --clip-arch, --clip-checkpoint, --aesthetic-mlp (the pixel backends' image scorer)
    add_clip_text_options(parser)    # --clip-text, --cutouts, --cut-power (classic CLIP guidance of the pixel backends)
    add_tracker_options(parser)      # --wandb PROJECT (bench/tracker.py)
"""
from __future__ import annotations


def add_model_options(p) -> None:
    p.add_argument("--variant", default=None, help="diffusers weights variant, e.g. fp16 (default: the plain files, else fp16)")
    p.add_argument("--model-config", default=None,
                   help="preset whose architecture a single-file checkpoint holds (default: inferred from its keys)")


def add_image_scorer_options(p) -> None:
    p.add_argument("--clip-arch", default=None, help="open_clip architecture of the image (pixel) scorer, or a path to an open_clip "
                   "config JSON (ViT-L-14-quickgelu for LAION's predictor)")
    p.add_argument("--clip-checkpoint", default=None, help="local open_clip checkpoint of the image scorer")
    p.add_argument("--aesthetic-mlp", default=None, help="local LAION-layout aesthetic predictor .pth")


def add_clip_text_options(p) -> None:
    p.add_argument("--clip-text", default=None, metavar="TEXT",
                   help="CLIP guidance towards TEXT: the image scorer becomes minus the spherical distance between the CLIP "
                        "embeddings of the decoded image and of TEXT (replaces --aesthetic-mlp; the CLIP model needs its text tower)")
    p.add_argument("--cutouts", type=int, default=0,
                   help="with --clip-text: random square cutouts of the decoded image scored per step (0: the whole image)")
    p.add_argument("--cut-power", type=float, default=1.0, help="with --cutouts: cutout sizes are min + u**POWER * (max - min), u uniform")


def clip_text_from_args(a):
    """The ClipText objective the options name, or None."""
    from scorers.clip_text import ClipText

    if a.clip_text is None:
        if a.cutouts or a.cut_power != 1.0:
            raise ValueError(f"--cutouts {a.cutouts} / --cut-power {a.cut_power} go with --clip-text TEXT, which was not given")
        return None
    return ClipText(text=a.clip_text, cutouts=a.cutouts, cut_power=a.cut_power)


def add_tracker_options(p) -> None:
    p.add_argument("--wandb", default=None, metavar="PROJECT",
                   help="log the configuration, per-step statistics, rows and image grids to this Weights & Biases project "
                        "(the wandb extra; WANDB_MODE=offline writes the run under WANDB_DIR, for a later `wandb sync`)")
