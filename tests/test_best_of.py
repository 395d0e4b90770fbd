"""Best-of-N: reserved draw seeds, selection by the backend's own scorer, log-N interpolation, the paired comparison."""
import numpy as np
import pandas as pd
import pytest
import torch

from bench.uplift.best_of import against_best_of, best_of, drawn_n, interp_log, log_weights, pick, sample_cost
from bench.uplift.config import Arm, UpliftConfig, make_arms
from bench.uplift.identity import identity
from bench.uplift.run import cells
from bench.uplift.seeds import DRAW_END, SEED_END, check_best_of, curve_ns, draw_seed, halves
from bench.store.rows import config_hash


def test_draw_seeds_never_collide_with_each_other_or_any_sweep_seed():
    seeds = [*range(1000), SEED_END - 1]
    drawn = [draw_seed(s, k) for s in seeds for k in range(1, DRAW_END)]
    assert len(set(drawn)) == len(drawn)  # one seed per (seed, draw)
    assert min(drawn) >= SEED_END and max(drawn) < 2**32  # above every sweep seed, within the 32 bits torch's CPU generator reads
    # a draw's noise is not its pair's (k * 2**32 + s would be: the generator drops the high bits)
    noise = lambda s: torch.randn(8, generator=torch.Generator().manual_seed(s))  # noqa: E731
    assert not torch.equal(noise(draw_seed(5, 1)), noise(5)) and not torch.equal(noise(draw_seed(5, 1)), noise(draw_seed(5, 2)))
    for seed, k in ((SEED_END, 1), (-1, 1), (0, 0), (0, DRAW_END)):
        with pytest.raises(ValueError, match="expected 0 <= seed < 2"):
            draw_seed(seed, k)
    with pytest.raises(ValueError, match="expected them within"):
        UpliftConfig(prompts=("a",), arms=(Arm("none"),), seeds=2, seed0=SEED_END - 1)


def test_best_of_must_be_a_power_of_two_and_draws_only_plain_none():
    assert curve_ns(8) == [1, 2, 4, 8] and curve_ns(1) == [1]
    for n in (0, 3, 6, -2, 2 * DRAW_END):
        with pytest.raises(ValueError, match=f"best_of={n}: expected a power of two"):
            check_best_of(n)
    with pytest.raises(ValueError, match="a draw is the plain 'none' arm"):
        Arm("midu", (("scale", 1.0),), draw=1)
    assert [a.label for a in make_arms(("none",), (), best_of=4)] == ["none", "none draw=1", "none draw=2", "none draw=3"]


def test_draws_cover_the_held_out_seeds_and_leave_the_other_cells_and_identity_as_they_were():
    plain = UpliftConfig(prompts=("a", "b"), arms=make_arms(("none", "midu"), (1.0,)), seeds=5, chunk=2)
    drawn = UpliftConfig(prompts=("a", "b"), arms=make_arms(("none", "midu"), (1.0,), best_of=4), seeds=5, chunk=2)
    held = halves(range(5))[1]
    extra = [c for c in cells(drawn) if "draw" in c]
    assert {c["draw"] for c in extra} == {1, 2, 3} and held == [2, 3, 4]
    assert sorted(s for c in extra if c["draw"] == 1 and c["prompt_idx"] == 0 for s in range(c["seed_start"], c["seed_stop"])) == held
    assert [config_hash(c) for c in cells(drawn) if "draw" not in c] == [config_hash(c) for c in cells(plain)]
    assert all("draw" not in a for a in identity(plain)["config"]["arms"])  # sweeps made before draws keep their identity
    assert [a.get("draw") for a in identity(drawn)["config"]["arms"]] == [None, None, 1, 2, 3]


def test_best_of_keeps_the_candidate_its_own_scorer_ranks_highest():
    scores = np.array([[0.1, 0.9, 0.5, 2.0], [3.0, 1.0, 2.0, 0.0]])
    truth = np.array([[1.0, 2.0, 9.0, 0.0], [4.0, 5.0, 6.0, 7.0]])
    assert pick(scores, 1).tolist() == [0, 0] and pick(scores, 2).tolist() == [1, 0] and pick(scores, 4).tolist() == [3, 0]
    assert best_of(scores, truth, 4).tolist() == [0.0, 4.0]  # the scorer's choice, not the truth's best (9 and 7)
    assert best_of(scores, truth, 1).tolist() == truth[:, 0].tolist()  # N = 1 is the unguided sample itself


def test_the_curve_is_interpolated_in_log_n_and_clamped_to_the_drawn_range():
    ns, v = [1, 2, 4, 8], [0.0, 1.0, 3.0, 4.0]
    assert log_weights(ns, 2.0) == (1, 1, 0.0) and interp_log(ns, v, 4.0) == 3.0
    assert interp_log(ns, v, 2 * 2**0.5) == pytest.approx(2.0)  # halfway between 2 and 4 in log N
    assert interp_log(ns, v, 1.21) == pytest.approx(np.log2(1.21))
    assert interp_log(ns, v, 0.9) == 0.0 and interp_log(ns, v, 20.0) == 4.0
    assert sample_cost(1.2, 7, 10) == pytest.approx(1.14) and sample_cost(5.0, 0, 10) == 1.0


def _sweep(n_seeds: int = 40, n_draws: int = 3, gain: float = 0.5, seed: int = 0):
    """Synthetic rows: unguided samples, their draws (a scorer that tracks the truth) and a guided arm `gain` above unguided."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_seeds):
        truth = rng.normal(5, 1, n_draws + 1)
        for k in range(n_draws + 1):
            rows.append({"arm": "none", "backend": "none", "scale": 0.0, "prompt_idx": 0, "seed": s, "draw": k, "guided_steps": 0,
                         "truth": truth[k], "judge_midblock": truth[k] + rng.normal(0, 0.1)})
        rows.append({"arm": "midu scale=+1", "backend": "midu", "scale": 1.0, "prompt_idx": 0, "seed": s, "draw": 0, "guided_steps": 5,
                     "truth": truth[0] + gain + rng.normal(0, 0.05), "judge_midblock": truth[0] + gain})
    d = pd.DataFrame(rows)
    return d[d.draw == 0].drop(columns="draw"), d[d.draw > 0]


def test_a_backend_is_set_against_best_of_n_at_its_own_cost_pair_by_pair():
    df, draws = _sweep()
    chosen = pd.DataFrame([{"backend": "midu", "scale": 1.0, "arm": "midu scale=+1", "judge": "truth", "sd_flop_ratio": 2.0}])
    [r] = against_best_of(df, draws, chosen, steps=10).to_dict("records")
    assert drawn_n(draws) == 4 and r["n"] == 20 and r["cost"] == pytest.approx(1.5)  # held-out half; 1 + 5/10 x (2 - 1)
    held = df[df.seed >= 20]
    ref = held[held.arm == "none"].set_index("seed")
    d = draws[draws.seed >= 20]
    s = np.column_stack([ref.judge_midblock] + [d[d.draw == k].set_index("seed").judge_midblock.loc[ref.index] for k in (1, 2, 3)])
    t = np.column_stack([ref.truth] + [d[d.draw == k].set_index("seed").truth.loc[ref.index] for k in (1, 2, 3)])
    b2 = t[np.arange(20), s[:, :2].argmax(1)]
    w = np.log2(1.5)  # between N = 1 and N = 2
    curve = (1 - w) * t[:, 0] + w * b2
    guided = held[held.arm == "midu scale=+1"].set_index("seed").truth.loc[ref.index].to_numpy()
    assert r["margin"] == pytest.approx((guided - curve).mean()) and r["curve_uplift"] == pytest.approx((curve - t[:, 0]).mean())
    assert r["at_n"] == 2 and r["vs_at_n"] == pytest.approx((guided - b2).mean()) and r["ci_low"] <= r["margin"] <= r["ci_high"]
    assert r["verdict"] == ("above" if r["ci_low"] > 0 else "below" if r["ci_high"] < 0 else "not told apart")
    # guidance that gains nothing lies below a curve whose scorer tracks the truth
    df0, draws0 = _sweep(gain=0.0, n_seeds=80)
    assert against_best_of(df0, draws0, chosen, steps=10).verdict.iloc[0] == "below"
    # beyond the largest N drawn: read at that N, and said so
    far = against_best_of(df, draws, chosen.assign(sd_flop_ratio=9.0), steps=10).iloc[0]
    assert far.beyond and far.at_n == 4 and far.cost == pytest.approx(5.0)


def test_the_readme_recipe_runs_as_written_at_tiny_scale(tmp_path, capsys):
    """The README's cheap-alternatives block, on one caption at 2 seeds and 2 steps: both baselines in the report and headline."""
    import json
    import re
    import shlex
    from pathlib import Path

    from bench.cli import main

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("### The cheap alternatives: CFG only and best-of-N", 1)[1].split("\n## ", 1)[0]
    sweep, report = re.search(r"```sh\n(.*?)```", section, re.S).group(1).strip().splitlines()
    out = shlex.split(sweep)[shlex.split(sweep).index("--out") + 1]
    tiny = lambda line: [a.replace(out, str(tmp_path / "u")) for a in shlex.split(line)[3:]]  # noqa: E731
    assert main([*tiny(sweep), "--seeds", "2", "--steps", "2", "--prompt", "a red circle on a dark blue background", "--quiet"]) == 0
    assert main([*tiny(report), "--headline", str(tmp_path / "headline.json")]) == 0
    md = (tmp_path / "u.md").read_text()
    assert "## Best-of-N: more unguided samples instead of guidance" in md and "## CFG only: the cheap alternative" in md
    assert "| judge_midblock | 8 |" in md and "The draws cost 7 unguided samples (N - 1 = 7 per held-out pair)" in md
    head = json.loads((tmp_path / "headline.json").read_text())["backends"]
    assert {"above_best_of_n", "vs_best_of_n_margin", "sd_cost_per_sample", "beats_cfg_only"} <= set(head["midu"]) & set(head["pixel"])
    assert head["pixel"]["sd_cost_per_sample"] > head["midu"]["sd_cost_per_sample"] > 1
