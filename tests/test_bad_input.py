"""Every bad invocation: one line naming the bad value and what was expected, exit 2, and no model built first.

Run in-process (fast): `sdmodels.load`'s builders are replaced by a tripwire, so a
case that reaches model building fails loudly instead of passing by luck.
"""
from pathlib import Path

import pytest

from bench.cli import main

TOY_MLP = str(Path(__file__).resolve().parents[1] / "toyworld" / "weights" / "pixel_scorer" / "toy_aesthetic_mlp.pth")

S = ["sample"]
U = ["uplift", "--backends", "none", "midu", "--seeds", "2"]
C = ["cost-run"]
M = ["costmodel"]

CASES = [
    # sample: names
    (S + ["--backend", "mid-u"], "unknown backend 'mid-u'"),
    (S + ["--model", "sdxl-turbo"], "unknown model 'sdxl-turbo'"),
    (S + ["--weights", "trained"], "unknown weights 'trained'"),
    (S + ["--scheduler", "heun"], "unknown scheduler 'heun'"),
    (S + ["--dtype", "fp8"], "unknown dtype 'fp8'"),
    (S + ["--device", "tpu"], "unknown device 'tpu'"),
    (S + ["--grad-norm", "l2"], "grad_norm='l2'"),
    (S + ["--reuse-grad", "--target", "eps"], "reuse_grad re-applies an update of x_t: it needs target='latent', not 'eps'"),
    (S + ["--target", "pixels"], "target='pixels'"),
    # sample: numbers
    (S + ["--scale", "nan"], "scale=nan"),
    (S + ["--scale", "inf"], "scale=inf"),
    (S + ["--scale=-inf"], "scale=-inf"),
    (S + ["--steps", "ten"], "--steps: invalid int value: 'ten'"),
    (S + ["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (S + ["--cfg-scale", "nan"], "cfg_scale=nan"),
    (S + ["--cfg-scale", "inf"], "cfg_scale=inf"),
    (S + ["--cfg-scale", "-1"], "cfg_scale=-1.0"),
    (S + ["--steps", "0"], "steps=0"),
    (S + ["--steps", "-3"], "steps=-3"),
    (S + ["--batch", "0"], "batch=0"),
    (S + ["--every-k", "0"], "every_k=0"),
    (S + ["--recurrence", "0"], "recurrence=0: expected an integer >= 1"),
    (S + ["--iterations", "0"], "iterations=0: expected an integer >= 1"),
    (S + ["--iterations", "2", "--target", "eps"], "iterations=2 updates x_t: it needs target='latent'"),
    (S + ["--recurrence", "2", "--scheduler", "dpmpp"], "--recurrence 2 redoes steps, which corrupts multistep scheduler 'dpmpp'"),
    (S + ["--window", "0.5", "1.5"], "(0.5, 1.5) must lie in [0, 1]"),
    (S + ["--window", "nan", "1"], "(nan, 1.0) must lie in [0, 1]"),
    (S + ["--window", "0.8", "0.2"], "start 0.8 must be below its end 0.2"),
    (S + ["--height", "33"], "image size 33x32 must be a multiple of the VAE factor 2"),
    (S + ["--height", "4"], "height=4"),
    (S + ["--seed", "-1"], "seed=-1"),
    # sample: files
    (S + ["--head", "no/such/head"], "scorer file not found: no/such/head.json"),
    (S + ["--backend", "latent-x0", "--head", "no/such/head"], "scorer file not found: no/such/head.json"),
    (S + ["--backend", "midu", "--head", "toyworld/weights/heads/midblock", "--objective-target", "red"],
     "--objective-target 'red': toyworld/weights/heads/midblock is an aesthetic head, which takes no target"),
    (S + ["--backend", "pixel", "--clip-checkpoint", "no/clip.pt", "--aesthetic-mlp", "no/mlp.pth"], "scorer file not found: no/clip.pt"),
    (S + ["--backend", "pixel", "--clip-arch", "no/arch.json"], "scorer file not found: no/arch.json"),
    (S + ["--model", "no/such/folder", "--weights", "random"], "unknown model 'no/such/folder'"),
    # sample: the CLIP-text objective
    (S + ["--backend", "midu", "--clip-text", "a cat"], "--clip-text guides the pixel backends"),
    (S + ["--backend", "pixel", "--cutouts", "2"], "--cutouts 2 / --cut-power 1.0 go with --clip-text TEXT"),
    (S + ["--backend", "pixel", "--clip-text", "a cat", "--cutouts", "-1"], "--cutouts -1: expected an integer >= 0"),
    (S + ["--backend", "pixel", "--clip-text", "a cat", "--cut-power", "nan"], "--cut-power nan: expected a finite number > 0"),
    (S + ["--backend", "pixel", "--clip-text", " "], "--clip-text ' ': expected a caption"),
    (S + ["--backend", "pixel", "--clip-text", "a cat", "--aesthetic-mlp", TOY_MLP], "--clip-text replaces the aesthetic MLP"),
    (S + ["--wandb", " "], "--wandb ' ': expected a W&B project name"),
    # uplift: names
    (U + ["--backends", "mid-u"], "unknown backend 'mid-u'"),
    (U + ["--backends", "midu"], "needs the 'none' backend"),
    (U + ["--world", "moon"], "unknown world 'moon'"),
    (U + ["--dtype", "bogus"], "unknown dtype 'bogus'"),
    (U + ["--device", "cuda"], "device 'cuda' asked for but no CUDA device is visible"),
    (U + ["--scheduler", "heun"], "unknown scheduler 'heun'"),
    (U + ["--model", "sdxl-turbo"], "unknown model 'sdxl-turbo'"),
    (U + ["--weights", "trained"], "unknown weights 'trained'"),
    (U + ["--head", "midblock"], "--head 'midblock': expected midblock=STEM"),
    (U + ["--head", "pixel=x"], "--head 'pixel=x': expected midblock=STEM"),
    (U + ["--head", "midblock=no/such"], "scorer file not found: no/such.json"),
    (U + ["--head", "latent_x0"], "--head 'latent_x0': expected midblock=STEM, latent=STEM or latent_x0=STEM"),
    (U + ["--head", "latent-x0=x"], "--head 'latent-x0=x': expected midblock=STEM, latent=STEM or latent_x0=STEM"),
    (U + ["--backends", "none", "latent-x0", "--head", "latent_x0=no/such"], "scorer file not found: no/such.json"),
    (U + ["--scales-for", "pixel"], "--scales-for 'pixel': expected BACKEND=S1"),
    (U + ["--scales-for", "nope=1"], "unknown backend 'nope'"),
    (U + ["--world", "toy", "--prompt", "a cat"], "caption 'a cat': expected"),
    (U + ["--world", "toy", "--clip-text", "a red star"], "'toy-vit' reads a 64-token vocabulary"),
    # uplift: numbers
    (U + ["--steps", "-3"], "steps=-3"),
    (U + ["--steps", "0"], "steps=0"),
    (U + ["--scales", "nan"], "scale=nan"),
    (U + ["--scales", "1", "inf"], "scale=inf"),
    (U + ["--scales-for", "midu=1,nan"], "scale=nan"),
    (U + ["--cfg-scale", "nan"], "cfg_scale=nan"),
    (U + ["--seeds", "0"], "seeds=0"),
    (U + ["--chunk", "0"], "chunk=0"),
    (U + ["--threads", "0"], "--threads 0: expected an integer >= 1"),
    (U + ["--window", "0.3", "2"], "(0.3, 2.0) must lie in [0, 1]"),
    (U + ["--recurrence", "-1"], "recurrence=-1: expected an integer >= 1"),
    (U + ["--recurrence", "3", "--scheduler", "dpmpp"], "--recurrence 3 redoes steps, which corrupts multistep scheduler 'dpmpp'"),
    (U + ["--best-of", "3"], "best_of=3: expected a power of two"),
    (U + ["--best-of", "0"], "best_of=0: expected a power of two"),
    (U + ["--best-of", "4", "--seeds", "1"], "seeds=1: best-of-N draws need at least 2"),
    (U + ["--knobs", "every_q=1,2"], "--knobs 'every_q=1,2': 'every_q' is not a knob; expected FIELD=V1,V2,... with FIELD one of"),
    (U + ["--knobs", "scale=1,2"], "'scale' is not a knob"),
    (U + ["--knobs", "every_k"], "--knobs 'every_k': expected every_k=V1,V2,... with distinct int values"),
    (U + ["--knobs", "every_k=1,x"], "--knobs 'every_k=1,x': expected every_k=V1,V2,... with distinct int values"),
    (U + ["--knobs", "every_k=2,2"], "with distinct int values"),
    (U + ["--knobs", "every_k=0,4"], "--knobs 'every_k=0,4': every_k=0: expected an integer >= 1"),
    (U + ["--knobs", "reuse_grad=yes"], "--knobs 'reuse_grad=yes': expected reuse_grad=V1,V2,... with distinct bool values (0 or 1)"),
    (U + ["--knobs", "every_k=2", "every_k=4"], "--knobs 'every_k=4': every_k is given twice"),
    (U + ["--knobs", "window_start=0.5,1.5"], "--knobs 'window_start=0.5,1.5': guidance window (1.5, 1.0) must lie in [0, 1]"),
    (U + ["--knobs", "recurrence=1,2", "--scheduler", "dpmpp"], "redoes steps, which corrupts multistep scheduler 'dpmpp'"),
    # cost-run
    (C + ["--backends", "mid-u"], "unknown backend 'mid-u'"),
    (C + ["--modes", "turbo"], "unknown mode 'turbo'"),
    (C + ["--dtype", "fp8"], "unknown dtype 'fp8'"),
    (C + ["--device", "cuda"], "device 'cuda' asked for but no CUDA device is visible"),
    (C + ["--batch", "0"], "batch=0"),
    (C + ["--rounds", "0"], "rounds=0"),
    (C + ["--size", "33"], "image size 33x33 must be a multiple of the VAE factor 2"),
    (C + ["--threads", "0"], "--threads 0: expected an integer >= 1"),
    (C + ["--model", "sdxl-turbo"], "unknown model 'sdxl-turbo'"),
    (C + ["--model-config", "sd3"], "unknown model preset 'sd3'"),
    # costmodel
    (M + ["--models", "sdxl-turbo"], "unknown model 'sdxl-turbo'"),
    (M + ["--backends", "mid-u"], "unknown backend 'mid-u'"),
    (M + ["--dtypes", "fp8"], "unknown dtype 'fp8'"),
    (M + ["--attention", "flash"], "unknown attention 'flash'"),
    (M + ["--batches", "0"], "batch=0"),
    (M + ["--device", "cuda"], "unknown device 'cuda'"),
    (M + ["--sample-steps", "0"], "--sample-steps 0: expected an integer >= 1"),
    (M + ["--sample-steps", "10", "--recurrence", "0"], "recurrence=0: expected an integer >= 1"),
    # reports and gates
    (["report", "--results", "no/such/results"], "--results no/such/results: no such folder"),
    (["uplift-report", "--sweep", "no/such/sweep", "--out", "OUT/r.md"], "no uplift sweep in no/such/sweep"),
    (["gate", "--baseline", "no/such.csv", "--current", "no/such.csv"], "no/such.csv"),
    (["demo", "--seeds", "1"], "--seeds 1: expected at least 2"),
    (["demo", "--best-of", "6"], "best_of=6: expected a power of two"),
]


@pytest.fixture(autouse=True)
def no_model_is_built(monkeypatch):
    import sdmodels.load

    def tripwire(*a, **k):
        raise AssertionError("a model was built before the bad input was refused")

    for builder in ("_build_random", "load_single_file", "load_folder_or_hub"):
        monkeypatch.setattr(sdmodels.load, builder, tripwire)


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2_before_any_model(args, message, tmp_path, capsys):
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    if "--out" not in args and args[0] in ("sample", "uplift", "cost-run", "costmodel", "demo"):
        args += ["--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err
