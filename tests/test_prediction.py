"""Schedule arithmetic: alpha_bar lookup, eps/v/x0 conversions, the Euler input scale."""
import math

import pytest
import torch

from guidance.prediction import alpha_bar_at, from_eps, input_scale, to_eps, to_x0


def test_alpha_bar_at_integer_and_fractional_timesteps(tiny_models):
    ac = tiny_models.scheduler("ddim").alphas_cumprod
    assert alpha_bar_at(ac, 500) == pytest.approx(float(ac[500]))
    sig = ((1 - ac) / ac).sqrt()
    mid = 0.5 * (float(sig[500]) + float(sig[501]))
    assert alpha_bar_at(ac, 500.5) == pytest.approx(1 / (1 + mid * mid))
    with pytest.raises(ValueError, match="timestep 1000.0 outside"):
        alpha_bar_at(ac, 1000)


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction"])
def test_conversions_round_trip(ptype):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64).unbind(0)
    ab = 0.3
    x = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    out = from_eps(eps, x, ab, ptype)
    if ptype == "v_prediction":
        torch.testing.assert_close(out, math.sqrt(ab) * eps - math.sqrt(1 - ab) * x0)
    torch.testing.assert_close(to_eps(out, x, ab, ptype), eps)
    torch.testing.assert_close(to_x0(out, x, ab, ptype), x0)


def test_unknown_prediction_type_refused():
    x = torch.zeros(1)
    with pytest.raises(ValueError, match="prediction_type 'sample' is not supported"):
        to_eps(x, x, 0.5, "sample")


def test_input_scale_is_sqrt_alpha_bar_for_euler(tiny_models):
    s = tiny_models.scheduler("euler")
    s.set_timesteps(10)
    t = s.timesteps[3]
    assert input_scale(s, t) == pytest.approx(math.sqrt(alpha_bar_at(s.alphas_cumprod, t)), rel=1e-5)
    d = tiny_models.scheduler("ddim")
    d.set_timesteps(10)
    assert input_scale(d, d.timesteps[3]) == 1.0
