"""The rating page without a browser (Flask's test client), the vote database and the analysis of votes."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from scipy.optimize import minimize

from bench.rate.analysis import _loss, bradley_terry, judge_agreement, rater_agreement, win_rates
from bench.rate.pairs import Pair, left_is_a, make_plan
from bench.rate.server import make_app
from bench.rate.votes import load_votes
from bench.report.uplift_human import human_section


def _pos(html: str) -> int:
    return int(html.split('name="pos" value="')[1].split('"')[0])


def test_page_serves_only_the_sweep_images_and_records_votes(toy_rate_sweep, tmp_path):
    plan, db = make_plan(toy_rate_sweep, "positive", per_comparison=2), tmp_path / "votes.sqlite"
    assert "arms: positive" in plan.statement and "midu scale=+0.02 vs midu scale=+0.05" in plan.statement  # guided vs guided
    assert "latent scale=+0.02 vs midu scale=+0.02" in plan.statement and len(plan.pairs) == 2 * (6 + 3 + 6)
    c = make_app(plan, db).test_client()
    # path traversal and bad rater ids: nothing outside the sweep's images, and a rater id is letters, digits, - and _
    for url in ["/image/alice/0/..%2F..%2Fconfig.json", "/image/alice/0/../../rows.jsonl", "/image/alice/-1/left", "/image/alice/9999/left",
                "/image/alice/0/%2Fetc%2Fpasswd", "/image/..%2F..%2Fetc/0/left", "/static/../config.json", "/images/none/s+0/p0_seed0.png"]:
        assert c.get(url).status_code in (400, 404), url
    for bad in ["a%2Fb", "..", "x" * 33, "%C3%A9", "a%20b"]:
        assert c.get(f"/rate/{bad}").status_code in (400, 404), bad
    assert c.get("/?rater=a%3Cb").status_code == 400 and c.get("/?rater=ok-1").status_code == 303
    # the left image is the file of the arm recorded as shown on the left
    html = c.get("/rate/alice").get_data(as_text=True)
    assert "1 of 30" in html
    c.post("/rate/alice/vote", data={"pos": _pos(html), "choice": "tie"})
    assert c.post("/rate/alice/vote", data={"pos": _pos(html), "choice": "left"}).status_code == 303  # the first vote stands
    assert c.post("/rate/alice/vote", data={"pos": "x", "choice": "left"}).status_code == 400
    assert c.post("/rate/alice/vote", data={"pos": 0, "choice": "guided"}).status_code == 400
    v = load_votes(db)
    assert len(v) == 1 and v.choice[0] == "tie"
    pair = next(p for p in plan.pairs if p.key == v.pair[0])
    assert c.get(f"/image/alice/{_pos(html)}/left").data == plan.image(pair, v.left_arm[0]).read_bytes()
    # a rater who comes back (a new server on the same database) resumes; sides fall both ways across pairs
    c2 = make_app(plan, db).test_client()
    assert "2 of 30" in c2.get("/rate/alice").get_data(as_text=True)
    for _ in range(10):
        c2.post("/rate/alice/vote", data={"pos": _pos(c2.get("/rate/alice").get_data(as_text=True)), "choice": "left"})
    v = load_votes(db)
    by_key = {p.key: p for p in plan.pairs}
    assert len(v) == 11 and v.pair.is_unique and all({by_key[r.pair].a, by_key[r.pair].b} == {r.left_arm, r.right_arm} for r in v.itertuples())
    assert 0 < sum(left_is_a("a fixed salt", "alice", p) for p in plan.pairs) < len(plan.pairs)
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _votes(rows) -> pd.DataFrame:
    return pd.DataFrame([{"rater": r, "pair": Pair(0, s, *sorted([a, b])).key, "prompt_idx": 0, "seed": s, "left_arm": a, "right_arm": b, "choice": c}
                         for r, s, a, b, c in rows])


ARMS = {"none": ("none", 0.0), "A": ("midu", 1.0), "B": ("latent", 1.0), "C": ("pixel", 1.0)}


def test_bradley_terry_recovers_known_strengths():
    rng, true = np.random.default_rng(0), {"none": 0.0, "A": 1.0, "B": -0.5}
    rows = []
    for n, (a, b) in enumerate([("none", "A"), ("none", "B"), ("A", "B")] * 1500):
        left, right = (a, b) if rng.random() < 0.5 else (b, a)
        p = 1 / (1 + np.exp(true[right] - true[left]))
        rows.append(("r", n, left, right, "left" if rng.random() < p else "right"))
    votes = _votes(rows)
    bt = bradley_terry(votes, ARMS, n_boot=100).set_index("arm")
    for arm in ("A", "B"):  # 1500 votes a comparison: a standard error near 0.05
        assert abs(bt.strength[arm] - true[arm]) < 0.15 and bt.ci_low[arm] < bt.strength[arm] < bt.ci_high[arm] < bt.ci_low[arm] + 0.4
    # the Newton fit is the minimum of the penalised likelihood: scipy's optimiser on the same loss agrees
    idx = {"none": 0, "A": 1, "B": 2}
    i, j = votes.left_arm.map(idx).to_numpy(), votes.right_arm.map(idx).to_numpy()
    s = (votes.choice == "left").to_numpy(dtype=float)
    ref = minimize(lambda b: _loss(np.concatenate([[0.0], b]), i, j, s), np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10})
    assert bt.strength["A"] == pytest.approx(ref.x[0], abs=1e-4) and bt.strength["B"] == pytest.approx(ref.x[1], abs=1e-4)
    # an arm the votes do not link to `none` gets no strength; one rater's perfect record stays finite
    lone = _votes([("r", 0, "C", "C", "left"), ("r", 1, "none", "A", "right"), ("r", 2, "A", "none", "left")])
    fit = bradley_terry(lone, ARMS, n_boot=20)
    assert list(fit.arm) == ["A"] and np.isfinite(fit.strength).all() and fit.strength.iloc[0] > 0


def test_win_rates_ties_half_and_small_cells():
    rows = [("r", s, "none", "A", c) for s, c in enumerate(["right"] * 6 + ["tie"] * 2 + ["left"] * 2)]
    rows += [("r", s, "B", "none", c) for s, c in enumerate(["left", "skip", "tie"])]
    w = win_rates(_votes(rows), ARMS).set_index("arm")
    assert w.win_rate["A"] == pytest.approx(7 / 10) and w.n["A"] == 10 and not w.too_small["A"]
    assert w.win_rate["B"] == pytest.approx(0.75) and w.n["B"] == 2 and w.too_small["B"]  # the skip left out
    assert w.ci_low["A"] <= 0.7 <= w.ci_high["A"]


def test_agreement_between_raters_and_with_judges():
    rows = [("x", 0, "none", "A", "left"), ("y", 0, "A", "none", "right"),  # both prefer none: agree
            ("x", 1, "none", "A", "tie"), ("y", 1, "none", "A", "left"),  # one tie: half
            ("x", 2, "none", "A", "left"), ("y", 2, "none", "A", "right")]  # opposite
    a = rater_agreement(_votes(rows))
    assert a["agreement"] == pytest.approx(0.5) and a["n_comparisons"] == 3 and a["n_raters"] == 2
    assert rater_agreement(_votes(rows[:1])) is None
    df = pd.DataFrame([{"arm": arm, "prompt_idx": 0, "seed": s, "truth": v} for s, (n, g) in enumerate([(2.0, 1.0), (1.0, 1.0), (1.0, 2.0)])
                       for arm, v in (("none", n), ("A", g))])
    j = judge_agreement(_votes(rows[::2]), df, ["truth"])  # x: none (judge: none), tie (judge: tie), none (judge: A)
    assert j.agreement[0] == pytest.approx(2 / 3) and j.n[0] == 3


def test_no_votes_no_human_section(toy_rate_sweep, tmp_path):
    assert human_section(toy_rate_sweep, pd.DataFrame(), pd.DataFrame(), tmp_path / "none.sqlite") == ([], {})


def test_rate_bad_input(toy_rate_sweep, capsys):
    from bench.cli import build_parser

    assert build_parser().parse_args(["rate", "--sweep", "s"]).host == "127.0.0.1"  # this machine only unless --host says otherwise
    assert main(["rate", "--sweep", "/no/such/sweep"]) == 2
    assert main(["rate", "--sweep", str(toy_rate_sweep), "--port", "70000"]) == 2
    assert main(["rate", "--sweep", str(toy_rate_sweep), "--per-comparison", "99"]) == 2
    assert main(["rate", "--sweep", str(toy_rate_sweep), "--arms", "best"]) == 2
    assert main(["uplift", "--world", "toy", "--keep-images", "some", "--out", "/tmp/never"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and "--per-comparison 99: expected 1 to 8" in err[2] and "--keep-images" in err[4]


def test_chosen_arms_keep_their_knobs(tmp_path):
    """Two arms of one backend at one scale (plain, and every 12th step): `chosen` offers the one the rule chose,
    not every arm that shares its backend and scale."""
    import json

    from bench.rate.pairs import offered_arms
    from bench.uplift.analysis import samples

    rng, rows = np.random.default_rng(0), []
    for seed in range(8):
        base = float(rng.normal())
        rows.append({"backend": "none", "scale": 0.0, "prompt_idx": 0, "seed": seed, "truth": base, "status": "ok", "step_ms": 1.0, "guided_step_ms": None})
        rows.append({"backend": "midu", "scale": 0.1, "prompt_idx": 0, "seed": seed, "truth": base + 1.0 + float(rng.normal(0, 0.1)), "status": "ok", "step_ms": 1.0, "guided_step_ms": 1.0})
        rows.append({"backend": "midu", "scale": 0.1, "every_k": 12, "prompt_idx": 0, "seed": seed, "truth": base - 1.0 + float(rng.normal(0, 0.1)), "status": "ok", "step_ms": 1.0, "guided_step_ms": 1.0})
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({**r, "config_hash": f"h{i}"}) + "\n" for i, r in enumerate(rows)))
    df = samples(tmp_path / "rows.jsonl")
    assert df[df.backend == "midu"].arm.nunique() == 2
    offered = offered_arms(df, "chosen")
    assert len(offered) == 1 and "every_k" not in offered.arm.iloc[0]
    assert len(offered_arms(df, "positive")) == 2


def test_the_committed_toy_sweep_offers_held_out_pairs():
    """make toyworld-sweep keeps every image, so the page's default plan on it reaches the held-out seeds."""
    from pathlib import Path

    plan = make_plan(Path(__file__).resolve().parents[1] / "results" / "uplift" / "toy", "chosen")
    seeds = {p.seed for p in plan.pairs}
    assert max(seeds) >= 32 > min(seeds)  # the sweep's 64 seeds: calibration 0-31, held-out 32-63
    assert all(plan.image(p, lab).is_file() for p in plan.pairs[:50] for lab in (p.a, p.b))
