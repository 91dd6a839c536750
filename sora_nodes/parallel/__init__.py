"""Sampling over several processes with torch.distributed: Ulysses sequence parallelism, CFG-parallel, and both
(xDiT's `cfg x ulysses` degree); plus step caching, which skips DiT calls instead of spreading them.

- `layout`: which rank does what (the cfg and ulysses groups), and the context a render runs under.
- `collective`: thin wrappers around torch.distributed collectives that count the bytes they move.
- `ulysses`: all_to_all swaps of sequence for heads around the attention call.
- `cfg`: the conditional and unconditional passes on two ranks.
- `launch`: the process group from torchrun's environment (gloo on CPU, nccl on CUDA), with timeouts.
- `step_cache`: a pure model-function wrapper that reuses the last velocity when the input barely changed.

Nothing here knows a network: the DiTs call `Ulysses` where their attention runs, and guidance calls `CfgSplit`.
"""
