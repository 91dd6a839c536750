"""sora-nodes: a Sora-style text-to-video engine in pure torch.

Only `sora_nodes.comfy` imports ComfyUI; everything else is plain torch + numpy.
"""

__version__ = "0.1.0"
