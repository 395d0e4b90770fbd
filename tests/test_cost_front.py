"""Cost of a finished sample: knobs per cell, each row's SD 2.1-base cost, the front per backend and the best within a budget."""
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.costmodel.sample import sample_flops
from bench.uplift.config import make_arms
from bench.uplift.front import arm_points, best_within, varies
from bench.uplift.sample_cost import sample_cost, with_sample_cost
from guidance import GuidanceConfig


def test_knobs_make_every_combination_per_scale_and_leave_base_values_plain():
    arms = make_arms(("none", "midu"), (0.5,), cfg_scales=(3.0,), knobs=(("every_k", (1, 4)), ("reuse_grad", (False, True))),
                     base={"every_k": 1, "reuse_grad": False})
    assert [a.label for a in arms] == ["none", "midu scale=+0.5", "midu scale=+0.5 every_k=4", "midu scale=+0.5 every_k=4 reuse_grad=True",
                                       "none cfg_scale=+3"]  # reuse_grad at every_k=1 skips no step: the plain arm, not repeated


@pytest.mark.parametrize("kw", [{}, {"every_k": 12}, {"every_k": 4, "reuse_grad": True}, {"recurrence": 2, "iterations": 3}])
def test_a_rows_cost_is_the_cost_models_sample_flops_ratio(kw):
    """The one formula agrees with bench/costmodel/sample.py's whole-sample FLOPs for every knob."""
    g = GuidanceConfig(scale=1.0, window_start=0.3, **kw)
    flops, guided, _ = sample_flops(1.21, 1.0, 25, g)
    row = pd.DataFrame([{"backend": "midu", "guided_steps": guided, "guided_recurrence": g.recurrence, "guided_iterations": g.iterations},
                        {"backend": "none", "guided_steps": 0, "guided_recurrence": 1, "guided_iterations": 1}])
    cost = with_sample_cost(row, {"midu": 1.21, "none": 1.0}, 25).sd_cost_per_sample
    assert cost.tolist() == pytest.approx([flops / 25, 1.0])
    assert sample_cost(1.21, guided, 25, g.calls_per_guided_step) == pytest.approx(flops / 25)
    assert np.isnan(with_sample_cost(row.assign(backend=["pixel", "none"]), {"none": 1.0}, 25).sd_cost_per_sample[0])


def _rows(arms: dict[str, tuple[str, float, float, float]], seeds=8):
    """Sample rows: per arm (backend, scale, cost, truth shift); calibration seeds 0-3 and held-out 4-7 get the shift
    and, where given as a pair, a different one on held-out."""
    out = []
    for arm, (backend, scale, cost, shift) in arms.items():
        for s in range(seeds):
            cal, held = shift if isinstance(shift, tuple) else (shift, shift)
            out.append({"arm": arm, "backend": backend, "scale": scale, "prompt_idx": 0, "seed": s, "sd_cost_per_sample": cost,
                        "truth": (cal if s < seeds // 2 else held) + 0.01 * ((s * 7) % 5), "guided_step_ms": 1.0, "step_ms": 1.0})
    return pd.DataFrame(out)


def test_the_front_and_the_budgets_are_chosen_on_calibration_and_read_on_held_out():
    df = _rows({"none": ("none", 0.0, 1.0, 0.0), "midu scale=+1 every_k=12": ("midu", 1.0, 1.02, 0.5),
                "midu scale=+1 every_k=4": ("midu", 1.0, 1.05, (0.3, 0.9)), "midu scale=+1": ("midu", 1.0, 1.17, (0.8, 0.1)),
                "midu scale=-1": ("midu", -1.0, 1.17, -0.5), "pixel scale=+1": ("pixel", 1.0, 4.9, 1.0)})
    pts = arm_points(df, "truth").set_index("arm")
    assert "midu scale=-1" not in pts.index and varies(pts.reset_index())
    assert pts.on_front.to_dict() == {"midu scale=+1 every_k=12": True, "midu scale=+1 every_k=4": False, "midu scale=+1": True,
                                      "pixel scale=+1": True}
    best = best_within(pts.reset_index(), "mean").set_index(["backend", "budget"])
    assert best.loc[("midu", 1.02), "arm"] == best.loc[("midu", 1.05), "arm"] == "midu scale=+1 every_k=12"
    assert best.loc[("midu", 1.2), "arm"] == "midu scale=+1"  # best on calibration (+0.8) though held-out says +0.1
    assert best.loc[("midu", 1.2), "uplift"] == pytest.approx(0.1) and best.loc[("midu", 1.05), "cost"] == 1.02
    assert ("pixel", 2.0) not in best.index  # nothing of pixel's within 2x


def test_the_readme_recipe_runs_as_written_at_tiny_scale(tmp_path):
    """The README's cost-of-a-finished-sample block, on one caption at 4 seeds and 5 steps: the section, figure and headline."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("### Cost of a finished sample: knobs per cell and the front", 1)[1].split("\n## ", 1)[0]
    sweep, report = re.search(r"```sh\n(.*?)```", section, re.S).group(1).strip().splitlines()
    out = shlex.split(sweep)[shlex.split(sweep).index("--out") + 1]
    tiny = lambda line: [a.replace(out, str(tmp_path / "u")) for a in shlex.split(line)[3:]]  # noqa: E731
    assert main([*tiny(sweep), "--seeds", "4", "--steps", "5", "--prompt", "a red circle on a dark blue background", "--quiet"]) == 0
    assert main([*tiny(report), "--headline", str(tmp_path / "headline.json")]) == 0
    md = (tmp_path / "u.md").read_text()
    assert "## Cost of a finished sample: uplift against cost per sample" in md and (tmp_path / "u_figures" / "cost_front.png").is_file()
    assert "| midu | `scale=+0.36 every_k=12 reuse_grad=True` |" in md and "| midu | 0.36 (every_k=12) |" in md
    rows = [json.loads(line) for line in (tmp_path / "u" / "rows.jsonl").read_text().splitlines()]
    assert {r.get("every_k", 1) for r in rows if r["backend"] == "midu"} == {1, 12}
    assert {r["guided_steps"] for r in rows if r["backend"] == "midu" and r.get("every_k") == 12} == {1}  # steps 2-4 of 5 in the window
    head = json.loads((tmp_path / "headline.json").read_text())["backends"]["midu"]
    # 5 steps, window from step 2: every_k=12 guides one, 1 + 1/5 x (1.21 - 1) = 1.04x: within 1.05x, not 1.02x
    assert {"best_uplift_at_1.05x", "best_uplift_at_2x"} <= set(head) and "best_uplift_at_1.02x" not in head
    assert head["best_uplift_at_1.05x_ci_low"] <= head["best_uplift_at_1.05x"] <= head["best_uplift_at_1.05x_ci_high"]
    assert "every_k=12" in head["best_uplift_at_1.05x_setting"] and head["best_uplift_at_2x_cost"] <= 2
