"""The exact cost model: FLOPs and bytes saved for backward per part, counted on the meta device.

The names below are what the command line offers; they import no torch.
"""

PARTS = ("unet_down_mid", "unet_up", "decoder", "image_encoder", "head", "other")
ATTENTION_KINDS = ("fused", "math")  # how SDPA runs: as real devices run it, or the minimal (math) backward
