"""Realism measures no head was trained on: KID in the shape classifier's features, renders of captions, the realism section."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.report.uplift_realism import realism_lines
from bench.uplift.analysis import uplift_table
from bench.uplift.kid import kid, kid_difference, kid_subsets
from bench.uplift.run import arm_of, image_path
from toyworld.caption import caption_colour, caption_shape
from toyworld.render import to_uint8
from toyworld.world import TOY_WEIGHTS, toy_caption_judge, toy_truth, toy_world


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    same, shifted = kid(x, y), kid(x + 0.5, y)
    assert abs(same) < 0.02 and shifted > 10 * abs(same)
    assert kid(x, x[::-1].copy()) < 0  # unbiased: the diagonal is left out, so identical sets fall below 0
    s = kid_subsets(x + 0.5, y)
    assert s["ci_low"] <= s["kid"] <= s["ci_high"] and s["n"] == 300 and s["subset"] == 150
    d = kid_difference(x + 0.5, x, y)
    assert d["ci_low"] > 0 and d["diff"] == pytest.approx(shifted - same)
    with pytest.raises(ValueError, match=r"kid needs two \(n >= 2, d\) feature sets of one d"):
        kid(x, y[:, :4])


def test_reference_renders_show_their_captions_and_the_judge_reads_shape_confidence():
    w = toy_world()
    prompts = list(w.prompts[:2])
    real = w.reference(prompts, 8)
    assert real.shape == (16, 3, 32, 32) and np.array_equal(real, w.reference(prompts, 8))  # a fixed seed
    caps = [p for p in prompts for _ in range(8)]
    out = toy_caption_judge(TOY_WEIGHTS / "ldm")(real, caps)
    assert out["caption_colour"].mean() > 0.8 and ((0 <= out["caption_shape_conf"]) & (out["caption_shape_conf"] <= 1)).all()
    assert out["caption_shape_conf"][out["caption_shape"] == 1].min() >= 0.25  # the argmax of 4 shapes has at least 1/4
    assert w.features(w.model)(real).shape == (16, 64)
    assert {caption_colour(p) for p in prompts} and {caption_shape(p) for p in prompts}


def test_realism_section_tells_real_looking_samples_from_noise(tmp_path):
    """Unguided 'samples' are renders of the caption; a guided arm's are noise: it is further from the real renders."""
    w = toy_world()
    prompt, n = w.prompts[0], 16
    real = w.reference([prompt], n + 40)[40:]  # other scenes of the caption than the reference's first ones
    noise = np.random.default_rng(0).uniform(-1, 1, real.shape).astype(np.float32)
    rows = []
    for backend, scale, images in (("none", 0.0, real), ("midu", 1.0, noise)):
        judged = {**toy_truth(images, [prompt] * n), **toy_caption_judge(w.model)(images, [prompt] * n)}
        for s in range(n):
            row = {"backend": backend, "scale": scale, "prompt_idx": 0, "seed": s, "step_ms": 1.0, "guided_step_ms": 1.0,
                   **{k: float(v[s]) for k, v in judged.items()}}
            rows.append(row)
            path = image_path(tmp_path / "images", arm_of(row), 0, s)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(to_uint8(images[s]).transpose(1, 2, 0)).save(path)
    df = pd.DataFrame(rows)
    df["arm"] = [arm_of(r).label for r in rows]
    cfg = {"config": {"world": "toy", "model": {"source": w.model}, "prompts": [prompt]}}
    table = uplift_table(df)
    chosen = table[table.judge == "truth"].assign(ci_low=lambda t: t.ci_low, ci_high=lambda t: t.ci_high)
    text = "\n".join(realism_lines(tmp_path, cfg, df, table, chosen))
    assert "## Realism: distance to real renders" in text and "| midu | 1 | 16 |" in text
    assert "- midu at its chosen scale 1: samples are further from real renders" in text
    assert "shape confidence" in text and "clean" in text
    missing = "\n".join(realism_lines(tmp_path / "elsewhere", cfg, df, table, chosen))
    assert "the sweep kept 0 unguided images" in missing and "--keep-images all" in missing


def test_arms_read_from_a_frame_with_other_arms_fields():
    """Rows of a pandas frame carry NaN for the fields other arms vary (a CFG-only arm's cfg_scale, a draw): the
    unguided arm is still the plain one, so its kept images are found (the realism section and the rating page)."""
    from pathlib import Path

    rows = [{"backend": "none", "scale": 0.0, "prompt_idx": 0, "seed": 1},
            {"backend": "none", "scale": 0.0, "cfg_scale": 3.0, "prompt_idx": 0, "seed": 1},
            {"backend": "none", "scale": 0.0, "draw": 2, "prompt_idx": 0, "seed": 1}]
    framed = pd.DataFrame(rows).to_dict("records")
    assert [arm_of(r) for r in framed] == [arm_of(r) for r in rows]
    assert image_path(Path("i"), arm_of(framed[0]), 0, 1) == Path("i/none/s+0/p0_seed1.png")
