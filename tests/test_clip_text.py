"""Classic CLIP guidance: the spherical distance, cutouts, its gradient through every pixel path, and the CLI records."""
import json
import math
import shlex
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F

from bench.cli import main
from guidance import GuidanceConfig, StepIn, build_backend, sample
from guidance.pixel import decode
from guidance.prediction import alpha_bar_at, to_x0
from scorers.clip_text import ClipText, cutout_boxes, spherical_distance
from scorers.setup import ScorerConfig, make_scorer
from scorers.tiny_clip import TINY_CLIP_TEXT_CONFIG
from sdmodels import encode_prompts, load_models, save_models

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def models64():
    return load_models("tiny", weights="random", dtype=torch.float64, seed=0)


def clip_scorer(models, size, **objective):
    scorer, desc = make_scorer("image", models, ScorerConfig(clip_text=ClipText("a red circle", **objective)), size, size)
    return scorer.to(models.dtype), desc


def test_spherical_distance_is_half_the_squared_angle():
    theta = torch.tensor([0.0, 0.3, 1.0, math.pi / 2, 3.0], dtype=torch.float64)
    u = torch.stack([torch.ones_like(theta), torch.zeros_like(theta)], -1)
    v = torch.stack([theta.cos(), theta.sin()], -1)
    torch.testing.assert_close(spherical_distance(u, v), theta**2 / 2)


def test_cutouts_lie_inside_the_image_and_follow_the_seed():
    boxes = cutout_boxes(48, 64, 32, 50, 2.0, torch.Generator().manual_seed(3))
    assert all(0 <= t and 0 <= l and 32 <= s <= 48 and t + s <= 48 and l + s <= 64 for t, l, s in boxes)
    assert len({s for _, _, s in boxes}) > 5
    assert boxes == cutout_boxes(48, 64, 32, 50, 2.0, torch.Generator().manual_seed(3))


def test_a_cutout_of_a_clip_sized_image_is_the_image(models64):
    """At CLIP's input size every cutout is the whole image, so their mean is the whole image's score."""
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    whole, desc = clip_scorer(models64, 32)
    cut, _ = clip_scorer(models64, 32, cutouts=3)
    assert desc["objective"] == "clip_text" and desc["random_weights"] and desc["text"] == "a red circle"
    torch.testing.assert_close(cut(images.requires_grad_()), whole(images))
    images = images.detach()
    z = whole.embed(images)  # the score is minus the spherical distance to the caption's embedding
    torch.testing.assert_close(whole(images), -2 * ((z - whole.target.double()).norm(dim=-1) / 2).asin() ** 2)
    assert (whole(images) <= 0).all() and (whole(images) >= -math.pi**2 / 2).all()


@pytest.mark.parametrize("backend, cutouts", [("pixel", 2), ("pixel-x0", 0), ("pixel-tiny", 2)])
def test_gradient_matches_finite_difference(models64, backend, cutouts):
    """Directional derivative of the guided score along a random direction, float64, 64 px images (so cutouts crop).
    x0-detached backends differentiate score(decode(x0(x, eps))) with eps held at its value: so does the difference."""
    scorer, _ = clip_scorer(models64, 64, cutouts=cutouts)
    b = build_backend(backend, models64, scorer)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, *models64.latent_shape(64, 64), generator=g, dtype=torch.float64)
    sched = models64.scheduler("ddim")
    s = StepIn(x=x, t=torch.tensor(600), alpha_bar=alpha_bar_at(sched.alphas_cumprod, 600), prediction_type="epsilon",
               cond=encode_prompts(models64, ["a red circle"], "", 64, 64), want_grad=True)
    state = scorer.generator.get_state()
    scorer.generator.set_state(state)
    out = b(s)

    def f(x):
        scorer.generator.set_state(state)  # the same cutouts in every evaluation
        if b.through_unet:
            return b(StepIn(**{**s.__dict__, "x": x})).score.sum()
        x = x.requires_grad_()  # scored as when guiding: cutouts apply where the score is differentiated
        return scorer(decode(b.decoder, to_x0(out.out_cond, x, s.alpha_bar, "epsilon"))).sum().detach()

    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    h = 1e-6  # small: ReLU kinks of the decoders and the pixel clamp sit within larger steps
    torch.testing.assert_close((out.grad * v).sum(), (f(x + h * v) - f(x - h * v)) / (2 * h), rtol=5e-4, atol=1e-10)


def test_scores_read_without_a_gradient_are_the_whole_images(models64):
    """Judges and final scores do not depend on cutout draws; the guided score does."""
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    whole, _ = clip_scorer(models64, 64)
    cut, _ = clip_scorer(models64, 64, cutouts=3)
    torch.testing.assert_close(cut(images), whole(images))
    guided = [cut(images.clone().requires_grad_()).detach() for _ in range(2)]
    assert not torch.allclose(guided[0], whole(images)) and not torch.allclose(guided[0], guided[1])


def test_guidance_moves_the_clip_score_both_ways():
    models = load_models("tiny", weights="random", seed=0)
    scorer, _ = clip_scorer(models, 32)
    b = build_backend("pixel", models, scorer)
    cond = encode_prompts(models, ["a red circle", "a blue square"])
    finals = []
    for scale in (-1.0, 0.0, 1.0):
        sched = models.scheduler("ddim")
        sched.set_timesteps(6)
        x = torch.randn(2, *models.latent_shape(32, 32), generator=torch.Generator().manual_seed(0)) * sched.init_noise_sigma
        finals.append(b.score(sample(b, sched, x, cond, GuidanceConfig(scale=scale), cfg_scale=3.0).x0, cond))
    assert (finals[0] < finals[1]).all() and (finals[1] < finals[2]).all(), finals


def readme_block(heading: str) -> list[list[str]]:
    """The commands of the first sh block under `heading` in the README, as argv lists (env assignments first)."""
    section = README.read_text().split(heading, 1)[1].split("\n#", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def test_readme_recipes_run_as_written_and_record_the_objective(tmp_path, monkeypatch):
    """The README's CLIP-text commands, on tiny stand-ins at the paths they name (a diffusers folder, an open_clip config
    JSON with its checkpoint); run.json and the sweep's config tree hold the objective."""
    monkeypatch.chdir(tmp_path)
    save_models(load_models("tiny", "random", seed=0), "my-sd-folder")
    (tmp_path / "my-clip.json").write_text(json.dumps(TINY_CLIP_TEXT_CONFIG))
    open_clip.add_model_config(tmp_path / "my-clip.json")
    torch.save(open_clip.create_model("my-clip", pretrained=None).state_dict(), "my-clip.pt")
    commands = readme_block("### CLIP-text guidance")
    assert [c[:4] for c in commands] == [["python", "-m", "bench", "sample"]] * 2 + [["python", "-m", "bench", "uplift"]]
    for argv in commands:
        assert main(argv[3:] + ["--quiet"]) == 0, argv
    for out, text in (("out/clip", "a red circle on a dark blue background"), ("out/clip-real", "a castle at dusk")):
        rec = json.loads((tmp_path / out / "run.json").read_text())
        assert rec["job"]["scorer"]["clip_text"]["text"] == text and rec["scorer"]["objective"] == "clip_text"
        assert all(-math.pi**2 / 2 <= s["score_mean"] <= 0 for s in rec["steps"])
    assert rec["scorer"]["random_weights"] is False and rec["scorer"]["cut_power"] == 0.5
    config = json.loads((tmp_path / "out/u-clip/config.json").read_text())
    judges = {j["kind"]: j for j in config["config"]["judges"]}
    assert judges["image"]["clip_text"] == {"text": "a red circle", "cutouts": 0, "cut_power": 1.0}
    assert "clip_text" not in judges["midblock"] and config["scorers"]["image"]["objective"] == "clip_text"
    rows = [json.loads(line) for line in (tmp_path / "out/u-clip/rows.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(-math.pi**2 / 2 <= r["judge_image"] <= 0 for r in rows)


def test_normalised_embeddings_in_float64_stay_float64(models64):
    scorer, _ = clip_scorer(models64, 32)
    z = scorer.embed(torch.zeros(1, 3, 32, 32, dtype=torch.float64))
    assert z.dtype == torch.float64
    torch.testing.assert_close(z, F.normalize(z, dim=-1))
