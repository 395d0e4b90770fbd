"""The uplift sweep on the tiny model: cells, judges, pairing, scale choice, report and headline."""
import json

import numpy as np
import pytest

from bench.stats import paired_uplift
from bench.uplift import UpliftConfig, cells, run_uplift
from bench.uplift_analysis import choose_scales, samples, uplift_table
from bench.uplift_report import write_report
from bench.worlds import world_judges


def test_paired_uplift_ci_and_win_rate():
    rng = np.random.default_rng(0)
    base = rng.normal(5, 1, 400)
    u = paired_uplift(base + 0.5 + rng.normal(0, 0.1, 400), base)
    assert u["ci_low"] < 0.5 < u["ci_high"] and u["win_rate"] > 0.99 and u["n"] == 400
    flat = paired_uplift(base, base)
    assert flat["uplift"] == 0 and flat["win_rate"] == 0.5
    with pytest.raises(ValueError, match="paired samples differ in shape"):
        paired_uplift(base[:3], base)


def test_cells_skip_scale_zero_and_chunk_seeds():
    cfg = UpliftConfig(prompts=("a", "b"), backends=("none", "midu"), scales=(-1.0, 0.0, 2.0), seeds=5, chunk=2)
    cs = cells(cfg)
    assert {(c["backend"], c["scale"]) for c in cs} == {("none", 0.0), ("midu", -1.0), ("midu", 2.0)}
    assert sorted(s for c in cs if c["backend"] == "none" and c["prompt_idx"] == 0 for s in c["seeds"]) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="needs the 'none' backend"):
        UpliftConfig(prompts=("a",), backends=("midu",))


def test_sweep_report_and_headline(tmp_path):
    cfg = UpliftConfig(prompts=("a red circle on a dark blue background",), backends=("none", "midu", "latent"), scales=(-1.0, 1.0),
                       seeds=4, chunk=4, steps=2, world="toy", grid_seeds=2)
    run_uplift(cfg, tmp_path / "sweep", world_judges=world_judges("toy"), log=lambda s: None)
    df = samples(tmp_path / "sweep" / "rows.jsonl")
    assert len(df) == 4 * (1 + 2 * 2) and {"truth", "truth_composition", "judge_midblock", "judge_image", "caption_colour"} <= set(df.columns)
    t = uplift_table(df)
    own = t[(t.backend == "midu") & (t.judge == "judge_midblock")].set_index("scale")
    assert own.uplift[1.0] > 0 > own.uplift[-1.0]  # guidance moves its own scorer both ways
    chosen = choose_scales(df, "truth")
    assert set(chosen.backend) == {"midu", "latent"} and (chosen.n_heldout_seeds == 2).all()
    out = write_report(tmp_path / "sweep", tmp_path / "rep" / "toy.md", tmp_path / "rep" / "headline.json", "cmd")
    text = out.read_text()
    assert "Random weights" in text and "## Non-finite guidance" in text and "grid_midu.png" in text and (tmp_path / "rep" / "toy_figures" / "pareto.png").is_file()
    assert "## Caption following" in text and "## Ground truth by part" in text and "## Negative scales" in text
    head = json.loads((tmp_path / "rep" / "headline.json").read_text())
    midu = head["backends"]["midu"]
    assert {"gt_uplift", "gt_uplift_ci_low", "gt_uplift_ci_high", "win_rate", "caption_match", "caption_match_unguided",
            "gt_uplift_negative"} <= set(midu)
    assert 0 <= midu["caption_match"] <= 1 and midu["gt_negative_scale"] == -1.0


def test_resume_with_other_settings_is_refused(tmp_path):
    cfg = UpliftConfig(prompts=("a",), backends=("none",), seeds=1, steps=1)
    run_uplift(cfg, tmp_path, log=lambda s: None)
    with pytest.raises(ValueError, match="other settings \\(steps\\)"):
        run_uplift(UpliftConfig(prompts=("a",), backends=("none",), seeds=1, steps=2), tmp_path, resume=True, log=lambda s: None)


def test_world_defaults_fill_unset_options_and_bad_scales_for_is_named(capsys):
    from bench.cli import main

    from bench.cmd_uplift import _scales_for

    assert _scales_for(["pixel=-1,0.5"]) == (("pixel", (-1.0, 0.5)),)
    for bad, msg in (("pixel", "expected BACKEND=S1"), ("pixel=a,b", "expected BACKEND=S1"), ("nope=1", "unknown backend 'nope'")):
        with pytest.raises(ValueError, match=msg):
            _scales_for([bad])
    assert main(["uplift", "--world", "moon", "--out", "/tmp/never"]) == 2
    assert "unknown world 'moon'" in capsys.readouterr().err
    assert main(["uplift", "--world", "toy", "--model", "tiny", "--prompt", "a cat", "--out", "/tmp/never"]) == 2
    assert "caption 'a cat': expected" in capsys.readouterr().err


def test_toy_prompts_are_distinct_captions():
    from toyworld.caption import parse_caption
    from bench.worlds import toy_prompts

    p = toy_prompts(8)
    assert len(set(p)) == 8 and p == toy_prompts(8) and all(parse_caption(t) for t in p)


def test_toy_defaults_are_relative_inside_the_repository(monkeypatch, tmp_path):
    from pathlib import Path

    from bench.worlds import TOY_WEIGHTS, toy_defaults

    monkeypatch.chdir(TOY_WEIGHTS.parents[1])
    d = toy_defaults()
    assert d["model"] == "toyworld/weights/ldm" and dict(d["heads"])["midblock"] == "toyworld/weights/heads/midblock"
    monkeypatch.chdir(tmp_path)
    assert Path(toy_defaults()["model"]).is_absolute()  # outside the repository: the full path, which loads from anywhere


def test_committed_results_name_no_machine_paths():
    """Sweep configs and rows are committed: they must read the same on any checkout."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"/(work|home|root|tmp/pytest)[^\s\"']*/(toyworld|results|reports)/")
    bad = [str(p.relative_to(root)) for folder in ("results", "reports") for p in (root / folder).rglob("*")
           if p.suffix in (".json", ".jsonl", ".csv", ".md", ".txt") and pattern.search(p.read_text(errors="ignore"))]
    assert bad == []
