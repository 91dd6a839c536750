"""Ulysses sequence parallelism (DeepSpeed-Ulysses, as xDiT's USP runs it) for the DiTs' self-attention.

Each rank of a ulysses group of P ranks holds N/P of the N tokens through every per-token layer (the patch
embedding's output, modulation, MLP, the text cross-attention, whose keys are the whole prompt on every rank).
Around self-attention one all_to_all swaps sequence for heads: q, k, v [B, H, N/P, Dh] become [B, H/P, N, Dh],
so each rank attends over ALL tokens for its H/P heads with the usual attention backends, RoPE applied to the
whole sequence as in one process; a second all_to_all swaps the output back. The last layer's tokens are
gathered, so the DiT returns the whole latent on every rank.

Moved per layer, summed over ranks: q, k, v in and the output back, each B*N*D elements of which (P-1)/P
leave their rank: 4*B*N*D*(P-1)/P elements.
"""

from __future__ import annotations

import torch

from ..errors import ParallelError
from .collective import Collectives


def working_sizes(heads: int, tokens: int, most: int = 64) -> list[int]:
    """World sizes (ulysses degrees) that split both the heads and the tokens evenly."""
    return [p for p in range(1, min(heads, most) + 1) if heads % p == 0 and tokens % p == 0]


class Ulysses:
    """The sequence/heads swaps of one rank in its ulysses group (`degree` ranks, this one at `index`)."""

    def __init__(self, collectives: Collectives, group, degree: int, index: int):
        self.collectives, self.group, self.degree, self.index = collectives, group, degree, index

    def check(self, heads: int, tokens: int, what: str = "the DiT") -> None:
        """Raise ParallelError, naming sizes that work, unless `heads` and `tokens` divide by the degree."""
        p = self.degree
        if heads % p == 0 and tokens % p == 0:
            return
        sizes = ", ".join(map(str, working_sizes(heads, tokens)))
        if heads % p:
            raise ParallelError(
                f"ulysses over {p} ranks needs the attention heads to divide by {p}, but {what} has {heads} heads; "
                f"use --nproc-per-node (ulysses degree) {sizes} for this video"
            )
        raise ParallelError(
            f"ulysses over {p} ranks needs the token count to divide by {p}, but this video is {tokens} tokens; "
            f"use a ulysses degree of {sizes}, or a size or frame count whose token count divides by {p}"
        )

    def shard(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, N, D] -> this rank's contiguous slice [B, N/P, D]."""
        return tokens.chunk(self.degree, dim=1)[self.index].contiguous()

    def gather(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, N/P, D] on every rank -> [B, N, D] on every rank."""
        return torch.cat(self.collectives.all_gather(tokens, self.group, self.degree), dim=1)

    def seq_to_heads(self, *qkv: torch.Tensor) -> list[torch.Tensor]:
        """Tensors [B, H, N/P, Dh] (one all_to_all for all of them) -> [B, H/P, N, Dh] each."""
        p = self.degree
        x = torch.stack(qkv)  # [K, B, H, n, Dh]
        k, b, h, n, d = x.shape
        x = x.reshape(k, b, p, h // p, n, d).permute(2, 0, 1, 3, 4, 5)  # [P (head chunk), K, B, H/P, n, Dh]
        out = self.collectives.all_to_all(x, self.group, p)  # out[j]: rank j's tokens of my heads
        out = out.permute(1, 2, 3, 0, 4, 5).reshape(k, b, h // p, p * n, d)  # [K, B, H/P, N, Dh]
        return list(out.unbind(0))

    def heads_to_seq(self, x: torch.Tensor) -> torch.Tensor:
        """[B, H/P, N, Dh] -> [B, H, N/P, Dh]: the inverse of `seq_to_heads`."""
        p = self.degree
        b, hp, n_all, d = x.shape
        x = x.reshape(b, hp, p, n_all // p, d).permute(2, 0, 1, 3, 4)  # [P (token chunk), B, H/P, n, Dh]
        out = self.collectives.all_to_all(x, self.group, p)  # out[j]: my tokens of rank j's heads
        return out.permute(1, 0, 2, 3, 4).reshape(b, p * hp, n_all // p, d)  # [B, H, n, Dh]


def theoretical_bytes_per_layer(batch: int, tokens: int, dim: int, degree: int, element_size: int) -> float:
    """Ulysses' all_to_all volume per attention layer, summed over ranks: 4*B*N*D*(P-1)/P elements."""
    return 4 * batch * tokens * dim * (degree - 1) / degree * element_size
