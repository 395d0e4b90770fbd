"""The CLI: bad input fails fast with one clear line; a good run writes images and a JSON."""
import json
import subprocess
import sys

import pytest

from bench.cli import COMMANDS, main


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "mid-u"], "unknown backend 'mid-u'; valid: none, latent, midu, "),
        (["--model", "sdxl-turbo"], "unknown model 'sdxl-turbo'"),
        (["--scheduler", "heun"], "unknown scheduler 'heun'; valid: ddim, euler, dpmpp"),
        (["--window", "0.5", "1.5"], "guidance window (0.5, 1.5) must lie in [0, 1]"),
        (["--steps", "0"], "steps=0: expected an integer >= 1"),
        (["--batch", "0"], "batch=0: expected an integer >= 1"),
        (["--every-k", "0"], "every_k=0: expected an integer >= 1"),
        (["--grad-norm", "l2"], "grad_norm='l2': expected one of ('none', 'rms')"),
        (["--dtype", "fp8"], "unknown dtype 'fp8'"),
        (["--head", "no/such/head"], "scorer file not found: no/such/head.json"),
        (["--height", "33"], "image size 33x32 must be a multiple of the VAE factor 2"),
    ],
)
def test_bad_input_one_line(args, message, tmp_path, capsys):
    assert main(["sample", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_head_for_another_model_names_both_shapes_before_loading(tmp_path, capsys, monkeypatch):
    import bench.jobs.sample

    def no_loading(*a, **k):
        raise AssertionError("models were loaded before the shape check")

    monkeypatch.setattr(bench.jobs.sample, "load_models", no_loading)
    from scorers import HeadMeta, build_head, save_head

    save_head(tmp_path / "h", build_head("midblock", (1280, 8, 8)), HeadMeta("midblock", (1280, 8, 8), "sd21-base", tuple(range(1, 11))))
    assert main(["sample", "--out", str(tmp_path / "o"), "--head", str(tmp_path / "h"), "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "(1280, 8, 8)" in err and "(64, 8, 8)" in err


def test_sample_writes_images_and_run_json(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "bench", "sample", "--model", "tiny", "--backend", "midu", "--scale", "1",
         "--prompt", "a horse on a beach", "--steps", "3", "--batch", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    rec = json.loads((out / "run.json").read_text())
    assert rec["random_weights"] is True and "random weights" in rec["note"]
    assert rec["job"]["guidance"]["scale"] == 1.0 and rec["job"]["backend"] == "midu"
    assert len(rec["images"]) == 2 and all((out / f).is_file() for f in rec["images"])
    assert [s["guided"] for s in rec["steps"]] == [True] * 3
    assert rec["provenance"]["torch_version"]


def test_class_head_steers_towards_a_named_class(tmp_path, capsys):
    from scorers import HeadMeta, build_head, save_head

    meta = HeadMeta("midblock", (64, 8, 8), "tiny", (0, 1, 2), objective="class", extra={"class_names": ["cat", "dog", "cow"]})
    save_head(tmp_path / "cls", build_head("midblock", (64, 8, 8), num_classes=3), meta)
    args = ["sample", "--head", str(tmp_path / "cls"), "--steps", "2", "--scale", "1"]
    assert main([*args, "--objective-target", "dog", "--out", str(tmp_path / "ok")]) == 0
    rec = json.loads((tmp_path / "ok" / "run.json").read_text())
    assert rec["scorer"]["objective"] == "class" and rec["scorer"]["objective_target"] == "dog"
    assert main([*args, "--objective-target", "horse", "--out", str(tmp_path / "bad")]) == 2
    assert "unknown class 'horse'; this head knows ['cat', 'dog', 'cow']" in capsys.readouterr().err


def test_help_imports_neither_torch_nor_diffusers():
    """The CLI and every subcommand's --help load no torch (lazy imports): answering takes well under a second."""
    code = ("import sys; from bench.cli import COMMANDS, build_parser; build_parser(); "
            "print('torch' in sys.modules, 'diffusers' in sys.modules, len(COMMANDS))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["False", "False", str(len(COMMANDS))], r.stdout + r.stderr
