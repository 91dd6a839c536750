"""SoraLongVideo: a prompt schedule and a length; SoraSampler chains extend windows to fill it."""

from __future__ import annotations

from ..models.latent_format import SORA_LATENT
from ..pipeline.generate import empty_video_latent
from ..pipeline.long_video import LongVideoPlan, long_video_frames
from ..pipeline.schedule import parse_schedule
from ..recaption import recaption as rewrite
from .sockets import SORA_TEXT_ENCODER, SoraNode, fps_input, size_inputs, socket, validation

EXAMPLE_SCHEDULE = (
    "20: a blue square moving up on a plain mint background\n"
    "40: a green triangle moving left on a plain mint background"
)


def _check_plan(schedule: str | None, width: int | None, height: int | None) -> None:
    """The schedule and the size, checked before any prompt is encoded; a linked input arrives at queue time as
    None, and is checked when the node runs."""
    if schedule is not None:
        parse_schedule(schedule)
    if None not in (width, height):
        SORA_LATENT.latent_shape(1, height, width)


class SoraLongVideo(SoraNode):
    DESCRIPTION = (
        "A video longer than the model's context (a minute or more). SoraSampler renders it window by "
        "window, each extending the last in latent space; the schedule changes the prompt over time."
    )
    FUNCTION = "plan"
    OUTPUTS = (
        ("LATENT", "latent", "An empty long latent carrying the encoded schedule; sample it with SoraSampler."),
        ("FLOAT", "fps", "The frame rate, for SoraSaveVideo."),
    )
    REQUIRED = {
        "text_encoder": socket(SORA_TEXT_ENCODER, "Encodes the scheduled prompts (from SoraCheckpointLoader)."),
        "schedule": socket(
            "STRING",
            "One 'SECONDS: prompt' per line; each holds until the next. Before the first, the "
            "sampler's positive prompt holds (leave empty for one prompt throughout).",
            multiline=True,
            default=EXAMPLE_SCHEDULE,
        ),
        "seconds": socket("FLOAT", "Length of the video in seconds.", default=60.0, min=0.5, max=3600.0, step=1.0),
        "fps": fps_input("Frames per second."),
        **size_inputs(),
        "recaption": socket(
            "BOOLEAN",
            "Rewrite each scheduled prompt in the model's caption style, as SoraRecaptioner does.",
            default=True,
        ),
        "overlap_frames": socket(
            "INT",
            "Frames each window knows from the one before: more holds motion better, fewer renders faster.",
            default=16,
            min=4,
            max=256,
            step=4,
        ),
    }

    @classmethod
    def VALIDATE_INPUTS(cls, schedule, width, height):
        return validation(lambda: _check_plan(schedule, width, height))

    def plan(self, text_encoder, schedule, seconds, fps, width, height, recaption, overlap_frames):
        entries = parse_schedule(schedule)
        frames = long_video_frames(seconds, fps)
        empty = empty_video_latent(frames, height, width)  # checks the size before any prompt is encoded
        texts = [rewrite(e.prompt, width=width, height=height, fps=fps, enabled=recaption).text for e in entries]
        prompts = tuple(text_encoder.encode([text]) for text in texts)
        plan = LongVideoPlan(tuple(e.start for e in entries), prompts, float(fps), overlap_frames)
        latent = {
            "samples": empty,
            "sora_long": plan,
            "fps": float(fps),
            "sora_video_size": (frames, height, width),  # the sampler lays it out for its model
        }
        return (latent, float(fps))
