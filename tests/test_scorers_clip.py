"""The CLIP aesthetic scorer on a tiny registered open_clip model: loading, preprocessing, gradients."""

import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2

from scorers import AestheticMLP, ClipAestheticScorer, build_clip_aesthetic_random, load_aesthetic_mlp, load_clip_aesthetic
from scorers.clip_preprocess import preprocess
from scorers.tiny_clip import TINY_CLIP_ARCH, TINY_CLIP_CONFIG, register_tiny_clip

LAION_KEYS = [f"layers.{i}.{p}" for i in (0, 2, 4, 6, 7) for p in ("weight", "bias")]
D = TINY_CLIP_CONFIG["embed_dim"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny open_clip checkpoint saved as open_clip saves its own, and a LAION-format MLP .pth."""
    root = tmp_path_factory.mktemp("tiny_clip")
    register_tiny_clip(root)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP_ARCH)
    torch.save(model.state_dict(), root / "clip.pt")
    torch.save(AestheticMLP(D).state_dict(), root / "mlp.pth")
    return {"model": model.eval(), "clip": root / "clip.pt", "mlp": root / "mlp.pth", "root": root}


def images(b=2, h=40, w=48, dtype=torch.float32):
    return (torch.rand(b, 3, h, w, dtype=dtype) * 1.8 - 0.9).requires_grad_(True)  # inside (-1, 1): no clamping


def test_mlp_has_the_laion_layout():
    assert sorted(AestheticMLP(768).state_dict()) == sorted(LAION_KEYS)


def test_laion_pth_loads_and_infers_d(tmp_path):
    torch.manual_seed(0)
    mlp = AestheticMLP(24).eval()
    torch.save(mlp.state_dict(), tmp_path / "mlp.pth")
    loaded = load_aesthetic_mlp(tmp_path / "mlp.pth")
    z = torch.randn(3, 24)
    assert loaded.d == 24 and not loaded.training
    assert torch.equal(loaded(z), mlp(z))


def test_wrong_mlp_keys_are_refused_by_name(tmp_path):
    state = AestheticMLP(8).state_dict()
    state["layers.8.weight"] = state.pop("layers.7.weight")
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"missing keys \['layers.7.weight'\], unexpected keys \['layers.8.weight'\]"):
        load_aesthetic_mlp(tmp_path / "bad.pth")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_aesthetic_mlp(tmp_path / "absent.pth")


def test_local_checkpoint_load_and_score(files):
    scorer = load_clip_aesthetic(TINY_CLIP_ARCH, files["clip"], files["mlp"])
    model = files["model"]
    assert torch.equal(scorer.visual.proj, model.visual.proj)
    x = images()
    score = scorer(x)
    assert score.shape == (2,)
    with torch.no_grad():  # the same score by hand: [0,1], resize+crop, normalise, tower, L2, MLP
        cfg = open_clip.get_model_preprocess_cfg(model)
        mean, std = torch.tensor(cfg["mean"]).view(1, 3, 1, 1), torch.tensor(cfg["std"]).view(1, 3, 1, 1)
        z = torch.nn.functional.normalize(model.visual(preprocess(x, cfg, mean, std)), dim=-1)
        assert torch.allclose(score, load_aesthetic_mlp(files["mlp"])(z).squeeze(-1))


def test_gradients_reach_the_images_and_not_the_weights(files):
    scorer = load_clip_aesthetic(TINY_CLIP_ARCH, files["clip"], files["mlp"])
    x = images()
    scorer(x).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad != 0).float().mean() > 0.9
    assert all(p.grad is None and not p.requires_grad for p in scorer.parameters())


def test_image_gradient_matches_central_difference(files):
    scorer = load_clip_aesthetic(TINY_CLIP_ARCH, files["clip"], files["mlp"], dtype=torch.float64).double()
    torch.manual_seed(1)
    x = images(1, 36, 44, dtype=torch.float64)
    (grad,) = torch.autograd.grad(scorer(x).sum(), x)
    eps = 1e-6
    with torch.no_grad():
        for index in [(0, 0, 17, 20), (0, 2, 5, 30)]:
            xp, xm = x.clone(), x.clone()
            xp[index] += eps
            xm[index] -= eps
            fd = (scorer(xp).sum() - scorer(xm).sum()) / (2 * eps)
            assert grad[index].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-10)


@pytest.mark.parametrize("shape", [(3, 40, 56), (3, 90, 37), (3, 32, 32), (3, 20, 24), (3, 77, 33), (3, 512, 512)])
def test_preprocess_matches_open_clip_eval_transform(files, shape):
    """Parity with open_clip's own eval transform, which accepts [0, 1] tensors as well as PIL images."""
    cfg = {**open_clip.get_model_preprocess_cfg(files["model"]), "mean": (0.1, 0.2, 0.3), "std": (0.4, 0.5, 0.6)}
    img = torch.rand(*shape)
    reference = image_transform_v2(PreprocessCfg(**cfg), is_train=False)(img)
    mean, std = torch.tensor(cfg["mean"]).view(1, 3, 1, 1), torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    ours = preprocess(img[None] * 2 - 1, cfg, mean, std)[0]
    assert torch.allclose(ours, reference, atol=1e-6)


def test_normalisation_comes_from_the_model_preprocess_cfg(files):
    model = open_clip.create_model(TINY_CLIP_ARCH, force_preprocess_cfg={"mean": (0.1, 0.2, 0.3), "std": (0.4, 0.5, 0.6)})
    scorer = ClipAestheticScorer.from_open_clip(model, AestheticMLP(D))
    assert scorer.mean.flatten().tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert scorer.std.flatten().tolist() == pytest.approx([0.4, 0.5, 0.6])
    with pytest.raises(ValueError, match="resize_mode 'longest' unsupported"):
        ClipAestheticScorer(model.visual, AestheticMLP(D), {**scorer.preprocess_cfg, "resize_mode": "longest"})


def test_missing_checkpoint_fails_before_building(files, tmp_path, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("open_clip.create_model must not run when a file is missing")

    monkeypatch.setattr(open_clip, "create_model", no_build)
    with pytest.raises(FileNotFoundError, match="missing-clip.bin"):
        load_clip_aesthetic(TINY_CLIP_ARCH, tmp_path / "missing-clip.bin", files["mlp"])
    with pytest.raises(FileNotFoundError, match="missing-mlp.pth"):
        load_clip_aesthetic(TINY_CLIP_ARCH, files["clip"], tmp_path / "missing-mlp.pth")


def test_hub_and_unknown_architectures_are_refused(files, monkeypatch):
    monkeypatch.setattr(open_clip, "create_model", lambda *a, **kw: pytest.fail("must refuse before building"))
    with pytest.raises(ValueError, match="unknown open_clip architecture 'hf-hub:laion/x'"):
        load_clip_aesthetic("hf-hub:laion/x", files["clip"], files["mlp"])
    with pytest.raises(ValueError, match="unknown open_clip architecture 'ViT-Q-99'"):
        build_clip_aesthetic_random("ViT-Q-99")
    with pytest.raises(ValueError, match="has a Hugging Face text tower"):
        build_clip_aesthetic_random("xlm-roberta-base-ViT-B-32")


def test_mlp_width_must_match_the_tower(files, tmp_path):
    torch.save(AestheticMLP(D + 1).state_dict(), tmp_path / "wide.pth")
    with pytest.raises(ValueError, match=f"reads {D + 1}-dim embeddings but {TINY_CLIP_ARCH} gives {D}"):
        load_clip_aesthetic(TINY_CLIP_ARCH, files["clip"], tmp_path / "wide.pth")


def test_random_build_is_seeded_and_leaves_the_rng_alone(files):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = build_clip_aesthetic_random(TINY_CLIP_ARCH), build_clip_aesthetic_random(TINY_CLIP_ARCH)
    assert torch.equal(torch.random.get_rng_state(), before)
    x = images().detach()
    assert a.mlp.d == D and torch.equal(a(x), b(x))


def test_low_precision_tower_and_bad_inputs(files):
    scorer = load_clip_aesthetic(TINY_CLIP_ARCH, files["clip"], files["mlp"], dtype=torch.bfloat16)
    score = scorer(images(dtype=torch.float16))
    assert score.shape == (2,) and torch.isfinite(score).all()
    with pytest.raises(ValueError, match=r"got shape \(2, 1, 8, 8\)"):
        scorer(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="got dtype torch.uint8"):
        scorer(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
