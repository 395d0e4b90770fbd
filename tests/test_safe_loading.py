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
