"""The per-component profile of a step: every op lands somewhere, and backward lands where its forward ran."""
import pytest
import torch

from bench.cost import breakdown as bd
from bench.cost.run import CostRunConfig, build_backends, step_input


@pytest.fixture(scope="module")
def tiny_step(tiny_models):
    return step_input(tiny_models, CostRunConfig(batch=2), 32, 32)


def profile(models, name, step):
    b = build_backends(models, [name], 32, 32, {})[name]
    return b, bd.profile_step(lambda: b(step), b, steps=1, device=torch.device("cpu"))


def phases(p: bd.Breakdown) -> set:
    return {k for k, v in p.components.items() if v["cpu_ms"] > 0}


def test_midu_backward_covers_down_mid_and_head_only(tiny_models, tiny_step):
    _, p = profile(tiny_models, "midu", tiny_step)
    got = phases(p)
    assert {("unet_down", "bwd"), ("unet_mid", "bwd"), ("head", "bwd"), ("unet_up", "fwd")} <= got
    assert ("unet_up", "bwd") not in got  # the shortened gradient path, seen in the profile
    assert not any(c in ("decoder", "image_encoder") for c, _ in got)


def test_pixel_backward_crosses_the_whole_chain(tiny_models, tiny_step):
    _, p = profile(tiny_models, "pixel", tiny_step)
    for comp in ("head", "image_encoder", "decoder", "unet_up", "unet_mid", "unet_down"):
        assert (comp, "bwd") in phases(p), comp


def test_none_has_no_backward_and_parts_add_up(tiny_models, tiny_step):
    b, p = profile(tiny_models, "none", tiny_step)
    assert not any(phase == "bwd" for _, phase in phases(p))
    assert sum(v["cpu_ms"] for v in p.components.values()) == pytest.approx(p.cpu_ms)
    rows = bd.component_rows(p)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert [r["component"] for r in rows] == sorted((r["component"] for r in rows), key=bd.COMPONENTS.index)
    assert p.gpu_busy_ms is None and p.device_ms is None  # no GPU: no device figures, rather than zeros
    ms = [k["kernel_ms"] for k in p.kernels]
    assert ms == sorted(ms, reverse=True) and all(k["kernel"].startswith("aten::") for k in p.kernels)
    # the hooks are gone afterwards: a later CUDA-graph capture or timing sees the bare modules
    assert not b.unet.mid_block._forward_pre_hooks and not b.unet.mid_block._forward_hooks


def test_component_modules_follow_the_backend(tiny_models):
    backends = build_backends(tiny_models, ["latent", "pixel-tiny"], 32, 32, {})
    parts = bd.component_modules(backends["latent"])
    assert set(parts) == {"unet_down", "unet_mid", "unet_up", "head"}
    parts = bd.component_modules(backends["pixel-tiny"])
    assert parts["decoder"] == [backends["pixel-tiny"].decoder.decoder]  # AutoencoderTiny has no post_quant_conv
    assert parts["image_encoder"] == [backends["pixel-tiny"].scorer.visual]


def test_unknown_component_is_refused():
    with pytest.raises(ValueError, match="unknown component 'vae'"):
        with bd.labelled({"vae": [torch.nn.Identity()]}):
            pass


def test_busy_time_is_the_union_of_intervals():
    assert bd.busy_ms([]) == 0.0
    # [0, 10) and [5, 20) overlap, [30, 40) stands apart: 20 + 10 us
    assert bd.busy_ms([(30.0, 40.0), (0.0, 10.0), (5.0, 20.0)]) == pytest.approx(0.030)
    assert bd.busy_ms([(0.0, 100.0), (10.0, 20.0)]) == pytest.approx(0.100)


def test_gpu_profile_split_without_a_gpu():
    """The CUDA side of `analyse` on hand-made profiler events: kernels land on the component of the op
    that launched them (backward through the sequence number), annotation spans mirrored onto the GPU
    timeline count neither as kernels nor as busy time."""
    from torch.autograd import DeviceType
    from torch.autograd.profiler_util import FunctionEvent

    def ev(i, name, start, end, thread=1, parent=None, **kw):
        e = FunctionEvent(i, name, thread, start, end, use_device="cuda", **kw)
        if parent is not None:
            e.set_cpu_parent(parent)
            parent.append_cpu_child(e)
        return e

    label = ev(1, "unet_down", 0, 100)
    label.append_kernel("unet_down", 0, 100.0)  # a mirrored annotation span, not work
    conv = ev(2, "aten::conv2d", 10, 20, parent=label, sequence_nr=7)
    conv.append_kernel("sm90_fprop", 0, 5.0)
    launch = ev(1, "cudaLaunchKernel", 11, 12, parent=conv)  # runtime calls are numbered apart from ops: ids collide
    node = ev(3, "autograd::engine::evaluate_function: ConvolutionBackward0", 200, 300, thread=2, fwd_thread=1, sequence_nr=7)
    dgrad = ev(4, "aten::convolution_backward", 210, 290, thread=2, parent=node)
    launch_bwd = ev(2, "cudaLaunchKernel", 220, 221, thread=2, parent=dgrad)
    launch_bwd.append_kernel("sm90_dgrad", 0, 8.0)  # a kernel may hang off the runtime call
    device = [ev(5, "sm90_fprop", 15, 20, device_type=DeviceType.CUDA), ev(6, "sm90_dgrad", 250, 258, device_type=DeviceType.CUDA),
              ev(7, "unet_down", 0, 100, device_type=DeviceType.CUDA, is_user_annotation=True),
              ev(8, "unet_down", 0, 100, device_type=DeviceType.CUDA)]  # an older torch: no annotation flag, the name tells
    p = bd.analyse([label, conv, launch, node, dgrad, launch_bwd, *device], steps=1, on_gpu=True)
    assert p.components[("unet_down", "fwd")]["device_ms"] == pytest.approx(0.005)
    assert p.components[("unet_down", "bwd")]["device_ms"] == pytest.approx(0.008)
    assert p.device_ms == pytest.approx(0.013) and p.gpu_busy_ms == pytest.approx(0.013)
    assert [(k["kernel"], k["component"], k["phase"]) for k in p.kernels] == [("sm90_dgrad", "unet_down", "bwd"), ("sm90_fprop", "unet_down", "fwd")]
