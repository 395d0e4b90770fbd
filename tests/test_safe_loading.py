"""Checkpoints load through safetensors or torch.load(weights_only=True): a pickle that runs code is refused."""
import pickle

import pytest

from scorers import load_aesthetic_mlp, load_clip_aesthetic
from scorers.tiny_clip import TINY_CLIP_ARCH, register_tiny_clip


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/guidance-bench-pwned",))


def _write_exploit(path):
    with open(path, "wb") as f:
        pickle.dump({"layers.0.weight": _Exploit()}, f, protocol=2)  # the protocol torch.save uses
    return path


def test_laion_mlp_pickle_with_code_is_refused(tmp_path):
    with pytest.raises(pickle.UnpicklingError):
        load_aesthetic_mlp(_write_exploit(tmp_path / "mlp.pth"))


def test_open_clip_checkpoint_pickle_with_code_is_refused(tmp_path):
    import torch

    from scorers import AestheticMLP

    register_tiny_clip(tmp_path)
    mlp = tmp_path / "ok.pth"
    torch.save(AestheticMLP(16).state_dict(), mlp)
    with pytest.raises(pickle.UnpicklingError):
        load_clip_aesthetic(TINY_CLIP_ARCH, _write_exploit(tmp_path / "clip.pt"), mlp)


def test_no_route_runs_a_planted_pickle_whatever_the_environment_says(tmp_path, monkeypatch, capsys):
    """The payload is offered to every loader and to the CLI, with torch told to skip weights-only loading where it may."""
    import torch

    from bench.cli import main
    from scorers import AestheticMLP
    from scorers.objectives import load_clip_model
    from scorers.safe_load import UnsafeCheckpoint, load_state

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    register_tiny_clip(tmp_path)
    mlp = tmp_path / "ok.pth"
    torch.save(AestheticMLP(16).state_dict(), mlp)
    for suffix in (".pt", ".pth", ".bin", ".ckpt"):
        bad = tmp_path / f"payload{suffix}"
        with open(bad, "wb") as f:
            pickle.dump({"state_dict": {"w": Payload()}}, f, protocol=2)
        for load in (lambda: load_state(bad), lambda: load_aesthetic_mlp(bad), lambda: load_clip_aesthetic(TINY_CLIP_ARCH, bad, mlp),
                     lambda: load_clip_model(TINY_CLIP_ARCH, bad)):
            with pytest.raises(UnsafeCheckpoint, match="refused: it holds more than tensors"):
                load()
        code = main(["sample", "--backend", "pixel", "--steps", "1", "--clip-arch", TINY_CLIP_ARCH, "--clip-checkpoint", str(bad),
                     "--aesthetic-mlp", str(mlp), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "safetensors" in err, err
    assert not marker.exists()
