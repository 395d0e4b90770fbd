"""Sweeps nobody can corrupt: one writer, an identity fixed at creation (settings and file contents), strict rows, safe reports."""
import json
import math
import os

import pytest

from guidance import SamplerConfig
from scorers import HeadMeta, build_head, save_head
from scorers.setup import ScorerConfig

from bench.cli import main
from bench.store.lock import FolderLock
from bench.store.rows import RowStore, read_rows
from bench.uplift.config import Arm, UpliftConfig, make_arms
from bench.uplift.run import run_uplift

QUIET = {"log": lambda s: None}


def _cfg(**kw) -> UpliftConfig:
    return UpliftConfig(prompts=("a",), arms=(Arm("none"),), seeds=1, sampler=SamplerConfig(steps=1), **kw)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with FolderLock(tmp_path / "s"):
        with pytest.raises(ValueError, match=rf"being written by pid {os.getpid()} \(started "):
            run_uplift(_cfg(), tmp_path / "s", **QUIET)
    run_uplift(_cfg(), tmp_path / "s", **QUIET)  # released with its holder: the folder is usable again


def test_a_run_without_resume_into_a_sweep_touches_nothing(tmp_path):
    run_uplift(_cfg(), tmp_path, **QUIET)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != ".lock"}
    for cfg in (_cfg(), UpliftConfig(prompts=("a",), arms=(Arm("none"),), seeds=2, sampler=SamplerConfig(steps=3))):
        with pytest.raises(ValueError, match="already holds a sweep: pass --resume"):
            run_uplift(cfg, tmp_path, **QUIET)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != ".lock"} == before
    with pytest.raises(ValueError, match=r"other settings \(sampler.steps, seeds\)"):
        run_uplift(UpliftConfig(prompts=("a",), arms=(Arm("none"),), seeds=2, sampler=SamplerConfig(steps=3)), tmp_path, resume=True, **QUIET)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != ".lock"} == before


def test_a_replaced_head_is_refused_on_resume_and_the_sweep_resumes_from_another_folder(tmp_path, monkeypatch):
    stem = tmp_path / "heads" / "h"
    save_head(stem, build_head("midblock", (64, 8, 8)), HeadMeta("midblock", (64, 8, 8), "tiny", tuple(range(1, 11))))
    judges = (ScorerConfig("midblock", head=str(stem)), ScorerConfig("latent"), ScorerConfig("image"))
    cfg = UpliftConfig(prompts=("a",), arms=make_arms(("none", "midu"), (1.0,)), seeds=2, chunk=1, sampler=SamplerConfig(steps=1),
                       judges=judges)
    out = tmp_path / "sweep"
    run_uplift(cfg, out, **QUIET)
    ident = json.loads((out / "config.json").read_text())
    assert len(ident["inputs"]["midblock.head"]["sha256"]) == 64

    monkeypatch.chdir(tmp_path / "heads")  # another working folder, the same files: the same sweep
    run_uplift(cfg, out, resume=True, **QUIET)
    assert len(read_rows(out / "rows.jsonl")) == 4

    torch_head = build_head("midblock", (64, 8, 8))
    for p in torch_head.parameters():
        p.data.add_(1.0)
    save_head(stem, torch_head, HeadMeta("midblock", (64, 8, 8), "tiny", tuple(range(1, 11))))
    with pytest.raises(ValueError, match=r"files changed since the sweep was made: midblock.head \("):
        run_uplift(cfg, out, resume=True, **QUIET)


def test_rows_are_strict_json_with_the_count_of_what_was_not_finite(tmp_path):
    store = RowStore(tmp_path / "rows.jsonl")
    store.append({"config_hash": "a", "cell_rows": 1, "truth": math.nan, "judge_image": math.inf, "ok": 1.0})
    line = (tmp_path / "rows.jsonl").read_text()
    assert "NaN" not in line and "Infinity" not in line
    row = json.loads(line)
    assert row["truth"] is None and row["judge_image"] is None and row["nonfinite_values"] == 2 and row["ok"] == 1.0


def test_report_refuses_a_missing_or_empty_results_folder_and_keeps_the_old_report(tmp_path, capsys):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "cost.md").write_text("committed\n")
    (tmp_path / "empty").mkdir()
    for results in (tmp_path / "mistyped", tmp_path / "empty"):
        assert main(["report", "--results", str(results), "--reports", str(reports)]) == 2
        err = capsys.readouterr().err
        assert str(results) in err and err.count("\n") == 1
    assert (reports / "cost.md").read_text() == "committed\n" and sorted(p.name for p in reports.iterdir()) == ["cost.md"]


def test_a_head_guides_only_the_model_whose_features_trained_it(tmp_path, capsys):
    """SD 1.5 and SD 2.1-base share a 1280x8x8 mid block: only the recorded base model tells their heads apart."""
    from bench.jobs.sample import SampleJob, validate
    from sdmodels import ModelSpec

    save_head(tmp_path / "h21", build_head("midblock", (1280, 8, 8)), HeadMeta("midblock", (1280, 8, 8), "sd21-base", tuple(range(1, 11))))
    assert main(["sample", "--model", "sd15", "--head", str(tmp_path / "h21"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "trained on the features of 'sd21-base', but this model is 'sd15'" in err and "--transfer-head" in err
    validate(SampleJob(prompts=("a",), out=str(tmp_path / "o"), model=ModelSpec("sd15"), scorer=ScorerConfig(head=str(tmp_path / "h21"), transfer=True)))


def test_a_folder_is_known_by_its_unet_weights(tmp_path, tiny_models, capsys):
    from sdmodels import load_models, save_models
    from sdmodels.identity import model_identity

    a = save_models(tiny_models, tmp_path / "a")
    b = save_models(load_models("tiny", "random", seed=1), tmp_path / "b")
    copy = save_models(tiny_models, tmp_path / "copy")
    assert model_identity(str(a)) == model_identity(str(copy)) != model_identity(str(b))
    assert model_identity(str(a)).startswith("unet-sha256:")
    save_head(tmp_path / "h", build_head("midblock", (64, 8, 8)), HeadMeta("midblock", (64, 8, 8), model_identity(str(a)), tuple(range(1, 11))))
    args = ["sample", "--weights", "pretrained", "--head", str(tmp_path / "h"), "--steps", "1", "--out"]
    assert main([*args, str(tmp_path / "o1"), "--model", str(copy)]) == 0
    assert main([*args, str(tmp_path / "o2"), "--model", str(b)]) == 2
    assert "but this model is 'unet-sha256:" in capsys.readouterr().err


def test_a_cut_prompt_says_so_on_stderr_and_in_the_results(tmp_path, tiny_models, capsys):
    from bench.jobs.sample import SampleJob, run

    long = " ".join(["a very red circle"] * 30)
    rec = run(SampleJob(prompts=(long, "a cat"), out=str(tmp_path), sampler=SamplerConfig(steps=1)), tiny_models)
    assert list(rec["truncated_prompts"]) == [long] and rec["truncated_prompts"][long] > 77
    assert "the text encoder reads the first 77, the rest is cut" in capsys.readouterr().err


def test_damaged_files_are_one_line_naming_the_file(tmp_path, capsys):
    stem = tmp_path / "h"
    save_head(stem, build_head("midblock", (64, 8, 8)), HeadMeta("midblock", (64, 8, 8), "tiny", tuple(range(1, 11))))
    base = ["sample", "--steps", "1", "--head", str(stem), "--out", str(tmp_path / "o")]
    (tmp_path / "h.json").write_text("{not json")
    assert main(base) == 2 and f"{tmp_path / 'h.json'} is not valid JSON" in capsys.readouterr().err
    save_head(stem, build_head("midblock", (64, 8, 8)), HeadMeta("midblock", (64, 8, 8), "tiny", tuple(range(1, 11))))
    (tmp_path / "h.safetensors").write_bytes(b"\x00" * 40)
    assert main(base) == 2 and "not a readable safetensors file" in capsys.readouterr().err
    save_head(stem, build_head("latent", (4, 16, 16)), HeadMeta("latent", (4, 16, 16), "tiny", tuple(range(1, 11))))
    meta = json.loads((tmp_path / "h.json").read_text())
    (tmp_path / "h.json").write_text(json.dumps({**meta, "kind": "midblock", "feature_shape": [64, 8, 8]}))
    assert main(base) == 2 and "does not hold the midblock head its JSON describes" in capsys.readouterr().err
    (tmp_path / "rows.jsonl").write_text('{"config_hash": "a"}\n123\n{"config_hash": "b"}\n')
    with pytest.raises(ValueError, match="line 2 is not a result row"):
        read_rows(tmp_path / "rows.jsonl")
    (tmp_path / "file").write_text("x")
    assert main(["sample", "--out", str(tmp_path / "file")]) == 2 and "is a file: expected an output folder" in capsys.readouterr().err


def test_a_truncated_checkpoint_is_refused_before_any_model_is_built(tmp_path, capsys, monkeypatch):
    import sdmodels.load
    import torch

    from scorers import AestheticMLP

    monkeypatch.setattr(sdmodels.load, "_build_random", lambda *a, **k: pytest.fail("a model was built first"))
    mlp = tmp_path / "mlp.pth"
    torch.save(AestheticMLP(16).state_dict(), mlp)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(mlp.read_bytes()[:-200])
    args = ["sample", "--backend", "pixel", "--clip-arch", "tiny-vit-test", "--clip-checkpoint", str(cut), "--aesthetic-mlp", str(mlp)]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert f"{cut}: truncated (its zip directory is missing)" in capsys.readouterr().err


def test_the_committed_toy_sweep_resumes_with_the_makefiles_command(capsys):
    """make toyworld-sweep finishes the committed sweep: its identity still matches what the CLI makes now."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    make = (root / "Makefile").read_text()
    var = dict(re.findall(r"^(TOY_\w+) \?=[ ]?(.*)$", make, re.M))  # TOY_EXEC is empty: options that leave rows unchanged
    line = re.search(r"^TOY_SWEEP := \$\(BIN\)/python -m bench (.*)$", make, re.M).group(1)
    args = shlex.split(re.sub(r"\$\((TOY_\w+)\)", lambda m: var[m.group(1)], line))
    out = args[args.index("--out") + 1]
    args[args.index("--out") + 1] = str(root / out)
    assert main([*args, "--quiet"]) == 0
    assert "0 cells run, 424 already done" in capsys.readouterr().out
