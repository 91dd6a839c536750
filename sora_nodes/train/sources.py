"""Training clips: the procedural world, or a folder of videos with .txt captions beside them."""

import random
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import SoraError
from ..io.video import read_video
from ..world import WorldClip, make_clip
from .buckets import Bucket, nearest_bucket

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif")


def to_model_range(frames: np.ndarray) -> torch.Tensor:
    """[B, T, H, W, 3] uint8 or float in [0, 1] -> [B, 3, T, H, W] float in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x.permute(0, 4, 1, 2, 3) * 2 - 1


class WorldSource:
    """Endless clips from the shapes world; a clip's seed fixes it, so a run is reproducible."""

    name = "world"

    def __init__(self, buckets: dict[Bucket, float], fps: float = 8.0, seed_offset: int = 0, label_rate: float = 0.0):
        self.buckets, self.fps, self.seed_offset = dict(buckets), fps, seed_offset
        # share of clips captioned with the terse label ("red circle moving left") instead of the long
        # caption, so short prompts work with the recaptioner off
        self.label_rate = label_rate

    def world_clip(self, bucket: Bucket, seed: int) -> WorldClip:
        return make_clip(
            self.seed_offset + seed, width=bucket.width, height=bucket.height, frames=bucket.frames, fps=self.fps
        )

    def text(self, clip: WorldClip, seed: int) -> str:
        short = self.label_rate > 0 and random.Random(f"label:{seed}").random() < self.label_rate
        return clip.label if short else clip.caption

    def clip(self, bucket: Bucket, seed: int) -> tuple[np.ndarray, str]:
        c = self.world_clip(bucket, seed)
        return c.frames, self.text(c, seed)

    def sample_items(
        self, bucket: Bucket, batch: int, rng: random.Random
    ) -> tuple[torch.Tensor, list[str], list[dict | None]]:
        """(video, captions, subjects): a batch, with what each clip shows of its first object (the
        one its caption leads with), so a model trained on it can be scored on its own captions."""
        seeds = [rng.randrange(2**31) for _ in range(batch)]
        clips = [self.world_clip(bucket, seed) for seed in seeds]
        subjects = [
            {"color": o.color, "shape": o.shape, "motion": o.motion, "count": len(c.scene.objects)}
            for c in clips
            for o in c.scene.objects[:1]
        ]
        captions = [self.text(c, seed) for c, seed in zip(clips, seeds, strict=True)]
        return to_model_range(np.stack([c.frames for c in clips])), captions, subjects

    def sample(self, bucket: Bucket, batch: int, rng: random.Random) -> tuple[torch.Tensor, list[str]]:
        video, captions, _ = self.sample_items(bucket, batch, rng)
        return video, captions


class FolderSource:
    """Videos with a caption file each (clip.mp4 + clip.txt), assigned to the nearest bucket by
    aspect ratio and duration and resized to it; the first `bucket.frames` frames are used."""

    name = "folder"

    def __init__(self, folder: str | Path, buckets: dict[Bucket, float]):
        folder = Path(folder)
        if not folder.is_dir():
            raise SoraError(f"training data folder {folder} does not exist; pass a folder of videos with .txt captions")
        videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        missing = [p.name for p in videos if not p.with_suffix(".txt").is_file()]
        if missing:
            raise SoraError(
                f"{len(missing)} videos in {folder} have no caption file, e.g. {missing[0]!r}: "
                f"put the caption in {Path(missing[0]).with_suffix('.txt')}"
            )
        self.items: dict[Bucket, list[tuple[np.ndarray, str]]] = {}
        for path in videos:
            frames, _ = read_video(path)  # float [T, H, W, 3] in [0, 1]
            t, h, w, _ = frames.shape
            bucket = nearest_bucket(buckets, w, h, t)
            if bucket is None:
                continue
            resized = np.stack(
                [
                    cv2.resize(f, (bucket.width, bucket.height), interpolation=cv2.INTER_AREA)
                    for f in frames[: bucket.frames].numpy()
                ]
            )
            self.items.setdefault(bucket, []).append((resized, path.with_suffix(".txt").read_text().strip()))
        if not self.items:
            shortest = min(b.frames for b in buckets)
            raise SoraError(f"no usable videos in {folder}: each needs >= {shortest} frames and a .txt caption")
        self.buckets = {b: buckets[b] * len(v) for b, v in self.items.items()}

    def sample(self, bucket: Bucket, batch: int, rng: random.Random) -> tuple[torch.Tensor, list[str]]:
        picks = [rng.choice(self.items[bucket]) for _ in range(batch)]
        return to_model_range(np.stack([f for f, _ in picks])), [c for _, c in picks]

    def sample_items(self, bucket: Bucket, batch: int, rng: random.Random):
        video, captions = self.sample(bucket, batch, rng)
        return video, captions, [None] * batch  # a folder's clips are not scored: nothing known of them


def open_source(data: str, buckets: dict[Bucket, float], label_rate: float = 0.0) -> WorldSource | FolderSource:
    if data == "world":
        return WorldSource(buckets, label_rate=label_rate)
    if label_rate:
        raise SoraError("--label-rate needs --data world: a video folder has one caption per clip, no terse label")
    return FolderSource(data, buckets)
