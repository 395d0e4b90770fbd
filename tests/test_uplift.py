"""The uplift sweep on the tiny model: cells, judges, pairing, scale choice, report and headline."""
import json

import numpy as np
import pytest

from guidance import SamplerConfig

from bench.report.uplift import write_report
from bench.uplift.analysis import choose_scales, samples, uplift_table
from bench.uplift.config import Arm, UpliftConfig, make_arms
from bench.uplift.run import cells, run_uplift
from bench.uplift.stats import paired_uplift


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
    cfg = UpliftConfig(prompts=("a", "b"), arms=make_arms(("none", "midu"), (-1.0, 0.0, 2.0)), seeds=5, chunk=2)
    cs = cells(cfg)
    assert {(c["backend"], c["scale"]) for c in cs} == {("none", 0.0), ("midu", -1.0), ("midu", 2.0)}
    assert sorted(s for c in cs if c["backend"] == "none" and c["prompt_idx"] == 0 for s in range(c["seed_start"], c["seed_stop"])) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="needs the 'none' backend"):
        UpliftConfig(prompts=("a",), arms=make_arms(("midu",), (1.0,)))


def test_sweep_report_and_headline(tmp_path):
    cfg = UpliftConfig(prompts=("a red circle on a dark blue background",), arms=make_arms(("none", "midu", "latent"), (-1.0, 1.0), cfg_scales=(2.0, 9.0), best_of=2),
                       seeds=4, chunk=4, sampler=SamplerConfig(steps=2, cfg_scale=5.0), world="toy", grid_seeds=2)
    run_uplift(cfg, tmp_path / "sweep", log=lambda s: None, keep_images="all")  # every seed's images, for the rating page
    assert (tmp_path / "sweep" / "images" / "midu" / "s+1" / "p0_seed3.png").is_file() and "keep" not in (tmp_path / "sweep" / "config.json").read_text()
    df = samples(tmp_path / "sweep" / "rows.jsonl")
    assert len(samples(tmp_path / "sweep" / "rows.jsonl", draws=True)) == 2  # one best-of-N draw per held-out seed, apart from df
    assert len(df) == 4 * (1 + 2 * 2 + 2) and {"truth", "truth_composition", "judge_midblock", "judge_image", "caption_colour"} <= set(df.columns)
    t = uplift_table(df)
    own = t[(t.backend == "midu") & (t.judge == "judge_midblock")].set_index("scale")
    assert own.uplift[1.0] > 0 > own.uplift[-1.0]  # guidance moves its own scorer both ways
    chosen = choose_scales(df, "truth")
    assert set(chosen.backend) == {"midu", "latent"} and (chosen.n_heldout_seeds == 2).all()
    out = write_report(tmp_path / "sweep", tmp_path / "rep" / "toy.md", tmp_path / "rep" / "headline.json", "cmd")
    text = out.read_text()
    assert "Random weights" in text and "## Skipped guidance: non-finite and saturated" in text and "grid_midu.png" in text and (tmp_path / "rep" / "toy_figures" / "pareto.png").is_file()
    assert "## Caption following" in text and "## Ground truth by part" in text and "## Negative scales" in text
    assert "## Realism: distance to real renders" in text and "has none of the world's feature space beside it" in text
    # honest labels: every component's weights named, a held-out cell of 2 pairs marked unreadable
    assert "(random weights: model, midblock scorer, latent scorer, image scorer)" in text
    assert "**Too small to read: 2 pairs (fewer than 8).**" in text
    # the cheap alternative: CFG only, chosen like a backend, each guided backend set against it
    assert "## CFG only: the cheap alternative" in text and "| midu | 1 |" in text and "guided minus best CFG-only" in text
    # two cost axes, each labelled: the toy run's own step time and the cost model's FLOPs at SD 2.1-base scale
    assert "toy step time vs unguided (this sweep, this machine)" in text and "FLOPs vs unguided at SD 2.1-base, 512 px (cost model)" in text
    assert "a guided step costs 1.21x an unguided one by FLOPs" in text  # midu, from results/costmodel
    head = json.loads((tmp_path / "rep" / "headline.json").read_text())
    midu = head["backends"]["midu"]
    assert {"gt_uplift", "gt_uplift_ci_low", "gt_uplift_ci_high", "win_rate", "colour_match", "colour_match_unguided",
            "gt_uplift_negative"} <= set(midu)
    assert 0 <= midu["colour_match"] <= 1 and midu["gt_negative_scale"] == -1.0
    assert midu["best_cfg_only"] in (2.0, 9.0) and midu["vs_best_cfg_ci_low"] <= midu["vs_best_cfg_uplift"] <= midu["vs_best_cfg_ci_high"]
    # best-of-N at each backend's own cost (all steps guided here: the cost is the FLOP ratio), on one plane with CFG only
    assert "## Best-of-N: more unguided samples instead of guidance" in text and (tmp_path / "rep" / "toy_figures" / "best_of_n.png").is_file()
    assert "- **midu** costs 1.21 unguided samples per finished sample at SD 2.1-base, 512 px and " in text
    assert midu["above_best_of_n"] in (True, False, None) and midu["beats_cfg_only"] in (True, False, None) and midu["best_of_n_max"] == 2
    assert midu["vs_best_of_n_ci_low"] <= midu["vs_best_of_n_margin"] <= midu["vs_best_of_n_ci_high"]


def test_resume_with_other_settings_is_refused(tmp_path):
    cfg = UpliftConfig(prompts=("a",), arms=(Arm("none"),), seeds=1, sampler=SamplerConfig(steps=1))
    run_uplift(cfg, tmp_path, log=lambda s: None)
    with pytest.raises(ValueError, match="other settings \\(sampler.steps\\)"):
        run_uplift(UpliftConfig(prompts=("a",), arms=(Arm("none"),), seeds=1, sampler=SamplerConfig(steps=2)), tmp_path, resume=True,
                   log=lambda s: None)


def test_world_defaults_fill_unset_options_and_bad_scales_for_is_named(capsys):
    from bench.cli import main
    from bench.commands.uplift import _scales_for

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
    from toyworld.world import toy_prompts

    p = toy_prompts(8)
    assert len(set(p)) == 8 and p == toy_prompts(8) and all(parse_caption(t) for t in p)


def test_toy_defaults_are_relative_inside_the_repository(monkeypatch, tmp_path):
    from pathlib import Path

    from toyworld.world import TOY_WEIGHTS, toy_world

    monkeypatch.chdir(TOY_WEIGHTS.parents[1])
    w = toy_world()
    assert w.model == "toyworld/weights/ldm" and {s.kind: s.head for s in w.scorers}["midblock"] == "toyworld/weights/heads/midblock"
    monkeypatch.chdir(tmp_path)
    assert Path(toy_world().model).is_absolute()  # outside the repository: the full path, which loads from anywhere


def test_committed_results_name_no_machine_paths():
    """Sweep configs and rows are committed: they must read the same on any checkout."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"/(work|home|root|tmp/pytest)[^\s\"']*/(toyworld|results|reports)/")
    bad = [str(p.relative_to(root)) for folder in ("results", "reports") for p in (root / folder).rglob("*")
           if p.suffix in (".json", ".jsonl", ".csv", ".md", ".txt") and pattern.search(p.read_text(errors="ignore"))]
    assert bad == []
