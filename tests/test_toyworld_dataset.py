"""Ratings, datasets (determinism, save/load) and the preview CLI."""
import numpy as np
import pytest

from toyworld.dataset import dataset_scenes, load_dataset, make_dataset, save_dataset
from toyworld.preview import main as preview_main
from toyworld.ratings import rate
from toyworld.render import from_uint8, render, to_uint8
from toyworld.truth import TRUTH_PARTS, truth_score


@pytest.fixture(scope="module")
def ds():
    return make_dataset(96, seed=7)


def test_rate_is_rounded_noisy_truth_in_range():
    truth = np.random.default_rng(0).uniform(1, 10, 5000)
    r = rate(truth, np.random.default_rng(1))
    assert r.dtype == np.int64 and r.min() >= 1 and r.max() <= 10
    assert 0.4 < np.mean(np.abs(r - truth)) < 0.9
    np.testing.assert_array_equal(rate(truth, np.random.default_rng(1), noise_sd=0.0), np.rint(truth))
    with pytest.raises(ValueError, match="noise_sd=-1"):
        rate(truth, np.random.default_rng(1), noise_sd=-1)


def test_same_seed_same_bytes(ds):
    again = make_dataset(96, seed=7)
    for k, v in ds.items():
        if isinstance(v, np.ndarray):
            assert v.dtype == again[k].dtype and v.tobytes() == again[k].tobytes(), k
    assert ds["captions"] == again["captions"] and ds["meta"] == again["meta"]
    assert not np.array_equal(ds["images"], make_dataset(96, seed=8)["images"])


def test_contents_are_consistent(ds):
    assert ds["images"].shape == (96, 3, 32, 32) and ds["images"].dtype == np.uint8
    assert len(ds["captions"]) == 96 and ds["ratings"].shape == (96,)
    assert set(f"part_{k}" for k in TRUTH_PARTS) <= set(ds)
    np.testing.assert_array_equal(ds["truth"], truth_score(from_uint8(ds["images"])))
    scenes = dataset_scenes(ds)
    np.testing.assert_array_equal(to_uint8(render(scenes)), ds["images"])


def test_save_load_round_trip(ds, tmp_path):
    back = load_dataset(save_dataset(tmp_path / "toy", ds))
    assert set(back) == set(ds)
    for k, v in ds.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(back[k], v)
    assert back["captions"] == ds["captions"] and back["meta"] == ds["meta"]
    with pytest.raises(FileNotFoundError, match="save_dataset"):
        load_dataset(tmp_path / "nothing")


def test_preview_writes_a_png(tmp_path, capsys):
    preview_main(["--n", "4", "--out", str(tmp_path)])
    png = tmp_path / "toyworld_preview.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in capsys.readouterr().out
