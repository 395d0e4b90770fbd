"""Kaiming (He) initialisation for the ReLU heads.

The heads are conv/linear stacks with ReLU between layers, trained from scratch
on features whose scale differs a lot between the mid block (1280 channels) and
the latents (4 channels). He-normal in fan-in mode keeps the activation variance
roughly constant through ReLU layers, so training starts at a sane logit scale
whatever the input width. Biases start at zero.
"""

from torch import nn


def init_kaiming(module: nn.Module) -> nn.Module:
    """He-normal init (fan-in, ReLU gain) for every Conv2d/Linear in `module`; returns it."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
