"""`make demo`'s job at reduced size: every backend runs, writes its files, and scale moves its own score."""
from bench.jobs.demo_tiny import demo


def test_demo_runs_every_backend(tmp_path):
    rec = demo(str(tmp_path), steps=2, scales=(-1.0, 1.0))
    assert (tmp_path / "grid.png").is_file() and (tmp_path / "summary.json").is_file()
    for name, by_scale in rec["final_score"].items():
        if name == "none":
            assert by_scale == {"-1": None, "+1": None}
            continue
        assert all(lo < hi for lo, hi in zip(by_scale["-1"], by_scale["+1"])), (name, by_scale)
