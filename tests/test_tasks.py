"""The task recipes, the canvas and long-video chaining (tiny random model; quality is in test_task_eval)."""

import pytest
import torch

from sora_nodes.diffusion.conditioning import paste_known
from sora_nodes.errors import ShapeError, SoraError
from sora_nodes.models.latent_format import SORA_LATENT as FMT
from sora_nodes.pipeline.generate import decode_latent
from sora_nodes.pipeline.long_video import LongVideoPlan, sample_long_video, window_starts
from sora_nodes.pipeline.sampling import SamplingSettings, encode_prompt, sample_latent
from sora_nodes.pipeline.schedule import active_index, parse_schedule
from sora_nodes.tasks import recipes
from sora_nodes.tasks.canvas import TaskCanvas, seam_correction

MAX = 33


def clip(frames=17, h=32, w=32, seed=0):
    return torch.rand(frames, h, w, 3, generator=torch.Generator().manual_seed(seed))


def seams(canvas: TaskCanvas) -> list[int]:
    known = canvas.known.all(2).all(1)
    return [i for i in range(canvas.length - 1) if known[i] != known[i + 1]]


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("source_frames,new_frames", [(17, 16), (17, 5), (9, 1), (50, 12), (3, 28)])
def test_extend_keeps_every_source_frame_and_adds_exactly_the_new_ones(direction, source_frames, new_frames):
    source = clip(source_frames)
    canvas = recipes.extend(source, new_frames, direction, fmt=FMT, max_frames=MAX)
    assert canvas.length <= MAX and (canvas.length - 1) % 4 == 0
    out = canvas.finish(torch.zeros_like(canvas.frames))  # a decoder that gets everything wrong
    assert len(out) == source_frames + new_frames
    kept = out[:source_frames] if direction == "forward" else out[new_frames:]
    assert torch.equal(kept, source)


def test_backward_is_forward_mirrored_in_time():
    fwd = recipes.extend(clip(17), 16, "forward", fmt=FMT, max_frames=MAX)
    bwd = recipes.extend(clip(17), 16, "backward", fmt=FMT, max_frames=MAX)
    known_fwd, known_bwd = (c.known.all(2).all(1) for c in (fwd, bwd))
    assert known_fwd.sum() >= 16 and known_bwd.sum() >= 16  # the model sees (almost) all of the source
    assert known_fwd[0] and not known_fwd[-1] and known_bwd[-1] and not known_bwd[0]


@pytest.mark.parametrize("new_frames", [16, 8, 12, 4])
def test_joins_fall_inside_a_latent_frame_not_on_its_boundary(new_frames):
    """A join on a latent boundary showed a 2-3.5x seam with the default model; inside one, under 1.5x."""
    for canvas in (
        recipes.extend(clip(17), new_frames, "forward", fmt=FMT, max_frames=MAX),
        recipes.extend(clip(17), new_frames, "backward", fmt=FMT, max_frames=MAX),
        recipes.connect(clip(17), clip(17, seed=1), new_frames, fmt=FMT, max_frames=MAX),
        recipes.loop(clip(17), new_frames, fmt=FMT, max_frames=MAX),
    ):
        assert seams(canvas) and all(i % FMT.temporal != 0 for i in seams(canvas)), seams(canvas)


def test_the_model_sees_as_much_of_a_long_source_as_its_context_holds():
    canvas = recipes.extend(clip(100), 8, "forward", fmt=FMT, max_frames=MAX)
    assert canvas.length == MAX and len(canvas.lead) == 100 - int(canvas.known.all(2).all(1).sum())


def test_connect_and_loop_outputs():
    a, b = clip(17), clip(13, seed=1)
    out = recipes.connect(a, b, 7, fmt=FMT, max_frames=MAX).finish
    canvas = recipes.connect(a, b, 7, fmt=FMT, max_frames=MAX)
    out = canvas.finish(torch.rand_like(canvas.frames))
    assert len(out) == 17 + 7 + 13 and torch.equal(out[:17], a) and torch.equal(out[24:], b)
    canvas = recipes.loop(a, 8, fmt=FMT, max_frames=MAX)
    out = canvas.finish(torch.rand_like(canvas.frames))
    assert len(out) == 25 and torch.equal(out[:17], a)  # the target (the start again) is dropped


def test_image_to_video_keeps_the_image_as_frame_0():
    image = clip(1)[0]
    canvas = recipes.image_to_video(image, 17, fmt=FMT, max_frames=MAX)
    assert canvas.latent_mask(FMT)[0, 0, :, 0, 0].tolist() == [1, 0, 0, 0, 0]
    assert torch.equal(canvas.finish(torch.zeros_like(canvas.frames))[0], image)


def test_inpaint_keeps_everything_outside_the_mask_and_frees_every_latent_cell_it_touches():
    frames = clip(17)
    mask = recipes.box_mask(17, 32, 32, x=9, y=0, box_width=4, box_height=4, start=0, end=5)
    canvas = recipes.inpaint(frames, mask, fmt=FMT, max_frames=MAX)
    out = canvas.finish(torch.zeros_like(frames))
    assert torch.equal(out[mask == 0], frames[mask == 0]) and not torch.equal(out[mask > 0], frames[mask > 0])
    latent_mask = canvas.latent_mask(FMT)[0, 0]  # [T', H', W'], frames 0..4 = latent 0 and 1
    unknown = (latent_mask == 0).nonzero().tolist()
    assert unknown == [[0, 0, 1], [1, 0, 1]]  # x 9..12 lies in cell 1 of 8 pixels


@pytest.mark.parametrize(
    "call,fragment",
    [
        (lambda: recipes.connect(clip(17), clip(17, 48, 32), 8, fmt=FMT, max_frames=MAX), "same size"),
        (lambda: recipes.inpaint(clip(17), torch.ones(17, 16, 16), fmt=FMT, max_frames=MAX), "mask is"),
        (lambda: recipes.inpaint(clip(17), torch.zeros(32, 32), fmt=FMT, max_frames=MAX), "mask is empty"),
        (lambda: recipes.extend(clip(17), 40, "forward", fmt=FMT, max_frames=MAX), "SoraLongVideo"),
        (lambda: recipes.extend(clip(17), 8, "sideways", fmt=FMT, max_frames=MAX), "direction"),
        (lambda: recipes.extend(clip(17, 30, 32), 8, "forward", fmt=FMT, max_frames=MAX), "height must be"),
        (lambda: recipes.image_to_video(clip(1), 18, fmt=FMT, max_frames=MAX), "try 17 or 21"),
        (lambda: recipes.image_to_video(clip(1), 37, fmt=FMT, max_frames=MAX), "context"),
        (lambda: recipes.inpaint(clip(37), torch.ones(32, 32), fmt=FMT, max_frames=MAX), "context"),
        (lambda: recipes.loop(clip(17), 0, fmt=FMT, max_frames=MAX), "at least 1"),
        (lambda: recipes.box_mask(17, 32, 32, x=40, y=0, box_width=4, box_height=4, start=0, end=5), "inside"),
        (lambda: recipes.box_mask(17, 32, 32, x=0, y=0, box_width=4, box_height=4, start=5, end=5), "time range"),
    ],
)
def test_bad_task_inputs_fail_before_anything_is_encoded(call, fragment):
    with pytest.raises(SoraError, match=fragment):
        call()


def test_seam_correction_removes_the_coding_error_jump_and_fades_out():
    source = torch.linspace(0, 0.5, 20)[:, None, None, None].expand(20, 4, 4, 3).clone()  # steady motion
    decoded = source + 0.1  # the VAE's error: a constant offset
    known = torch.arange(20) < 10
    corrected = decoded + seam_correction(source - decoded, known, blend=8)
    out = torch.where(known[:, None, None, None], source, corrected)
    steps = (out[1:] - out[:-1]).abs().mean((1, 2, 3))
    assert torch.allclose(steps[9], steps[8], atol=1e-6)  # the join moves like the clip, no jump of 0.1
    uncorrected = torch.where(known[:, None, None, None], source, decoded)
    assert (uncorrected[10] - uncorrected[9]).abs().mean() > 3 * steps[8]
    assert torch.allclose(corrected[18], decoded[18])  # faded out after `blend` frames


def test_sampled_condition_reproduces_the_known_latents(tiny_model, text_encoder):
    source = clip(9)
    canvas = recipes.extend(source, 8, "forward", fmt=tiny_model.latent_format, max_frames=MAX)
    condition = canvas.condition(tiny_model.vae, tiny_model.latent_format)
    pos, neg = encode_prompt(text_encoder, "a red circle")
    shape = tiny_model.latent_shape(*canvas.frames.shape[:3])
    latent = sample_latent(tiny_model, pos, neg, shape, SamplingSettings(steps=3), condition=condition)
    assert torch.equal(paste_known(latent, condition), latent)
    out = canvas.finish(decode_latent(tiny_model.vae, latent))
    assert len(out) == 17 and torch.equal(out[:9], source)


def test_reimposed_noise_changes_what_the_model_sees_but_not_the_known_latents(tiny_model, text_encoder):
    canvas = recipes.extend(clip(9), 8, "forward", fmt=tiny_model.latent_format, max_frames=MAX)
    condition = canvas.condition(tiny_model.vae, tiny_model.latent_format)
    pos, neg = encode_prompt(text_encoder, "a red circle")
    shape = tiny_model.latent_shape(*canvas.frames.shape[:3])

    def run(**kw):
        return sample_latent(tiny_model, pos, neg, shape, SamplingSettings(steps=4, **kw), condition=condition)

    plain, reimposed = run(), run(reimpose=True)
    assert torch.equal(paste_known(reimposed, condition), reimposed) and not torch.allclose(plain, reimposed)
    assert torch.equal(run(reimpose=True), reimposed)  # the fresh noise is seeded too


def test_schedule_parsing():
    entries = parse_schedule("# a comment\n\n20: a blue square\n0.5s: a red circle\n")
    assert [(e.start, e.prompt) for e in entries] == [(0.5, "a red circle"), (20.0, "a blue square")]
    assert [active_index([0.5, 20.0], t) for t in (0, 0.5, 19.9, 20, 99)] == [-1, 0, 0, 1, 1]
    for bad, fragment in (("a red circle", "SECONDS: prompt"), ("5:", "no prompt"), ("1: a\n1: b", "two prompts")):
        with pytest.raises(SoraError, match=fragment):
            parse_schedule(bad)


@pytest.mark.parametrize("length,window,overlap", [(9, 9, 4), (121, 9, 4), (30, 9, 2), (10, 9, 8)])
def test_windows_cover_the_video_and_each_knows_its_overlap(length, window, overlap):
    starts = window_starts(length, window, overlap)
    assert starts[0] == 0 and starts[-1] + window >= length
    for a, b in zip(starts, starts[1:], strict=False):
        assert 0 < b - a <= window - overlap  # every window knows at least `overlap` frames
    with pytest.raises(SoraError, match="overlap"):
        window_starts(length, window, window)


def test_long_video_chains_windows_in_latent_space(tiny_model, text_encoder):
    pos, neg = encode_prompt(text_encoder, "a red circle")
    blue = text_encoder.encode(["a blue square"])
    plan = LongVideoPlan((4.0,), (blue,), fps=8.0, overlap_frames=16)
    settings = SamplingSettings(steps=2)
    steps = []
    latent = sample_long_video(
        tiny_model, pos, neg, (20, 2, 2), settings, plan, callback=lambda s: steps.append(s["i"])
    )
    first = sample_latent(tiny_model, pos, neg, (9, 2, 2), settings)
    assert latent.shape[2] == 20 and torch.equal(latent[:, :, :9], first)  # window 0 is plain text-to-video
    assert steps == list(range(len(steps))) and len(steps) == 2 * len(window_starts(20, 9, 4))
    with pytest.raises(SoraError, match="denoise"):
        sample_long_video(tiny_model, pos, neg, (20, 2, 2), SamplingSettings(denoise=0.5), plan)
    assert plan.prompt_at(3.9, pos) is pos and plan.prompt_at(4.0, pos) is blue


def test_canvas_refuses_a_decode_of_another_size():
    canvas = recipes.extend(clip(17), 16, "forward", fmt=FMT, max_frames=MAX)
    with pytest.raises(ShapeError, match="canvas"):
        canvas.finish(torch.zeros(17, 32, 32, 3))
