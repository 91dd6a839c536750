"""SoraWanExpertSwitch: the step at which Wan 2.2 A14B's high-noise expert hands over to the low-noise one,
for a pair of core KSamplerAdvanced (the first ends there, the second starts there)."""

from __future__ import annotations

from ..diffusion.expert_switch import BOUNDARIES, TIMESTEPS, switch_step
from ..errors import SoraError
from .sockets import SoraNode, socket

# core 0.3.64's names, offered where ComfyUI cannot be imported (the headless runner reads every schema)
CORE_SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
                   "linear_quadratic", "kl_optimal"]  # fmt: skip
CORE_SAMPLERS = ["euler", "uni_pc", "uni_pc_bh2", "dpmpp_2m", "res_multistep"]


def _core_lists() -> tuple[list[str], list[str]]:
    try:
        import comfy.samplers
    except ImportError:
        return CORE_SCHEDULERS, CORE_SAMPLERS
    return comfy.samplers.KSampler.SCHEDULERS, comfy.samplers.KSampler.SAMPLERS


def core_sigmas(steps: int, shift: float, scheduler: str, sampler_name: str):
    """The sigmas core's KSampler uses for a Wan model shifted by `shift` (ModelSamplingSD3's flow sampling),
    including its rule that some samplers drop the penultimate sigma."""
    try:
        import comfy.model_sampling
        import comfy.samplers
    except ImportError as error:
        raise SoraError(
            "SoraWanExpertSwitch computes core KSampler's schedule, so it runs inside ComfyUI; "
            "run this graph in ComfyUI or with `sora run --comfyui DIR`"
        ) from error

    class _Flow(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    sampling = _Flow()
    sampling.set_parameters(shift=shift, multiplier=TIMESTEPS)
    discard = sampler_name in comfy.samplers.KSampler.DISCARD_PENULTIMATE_SIGMA_SAMPLERS
    sigmas = comfy.samplers.calculate_sigmas(sampling, scheduler, steps + discard).cpu()
    return sigmas[[*range(len(sigmas) - 2), len(sigmas) - 1]] if discard else sigmas


class SoraWanExpertSwitch(SoraNode):
    DESCRIPTION = (
        "Wan 2.2 A14B: the step where the high-noise expert hands over to the low-noise one (Wan runs the "
        "high-noise expert while t >= boundary x 1000; 0.875 for T2V, 0.9 for I2V). Wire it into end_at_step of "
        "the high-noise KSamplerAdvanced and start_at_step of the low-noise one."
    )
    FUNCTION = "switch"
    OUTPUTS = (
        (
            "INT",
            "switch_step",
            "The first step of the low-noise expert: end_at_step of the first sampler and start_at_step of the second.",
        ),
        ("INT", "steps", "The step count, for both samplers."),
    )

    @classmethod
    def INPUT_TYPES(cls):
        schedulers, samplers = _core_lists()
        return {
            "required": {
                "task": socket(list(BOUNDARIES), "t2v (boundary 0.875) or i2v (boundary 0.9): which A14B pair."),
                "steps": socket(
                    "INT", "Steps of the whole schedule, as on both samplers.", default=20, min=1, max=10000
                ),
                "shift": socket(
                    "FLOAT",
                    "The shift of ModelSamplingSD3 on the models (Wan: 12 for T2V, 5 for I2V).",
                    default=BOUNDARIES["t2v"].shift,
                    min=0.0,
                    max=100.0,
                    step=0.01,
                ),
                "scheduler": socket(schedulers, "The scheduler on both samplers."),
                "sampler_name": socket(samplers, "The sampler on both samplers."),
            }
        }

    def switch(self, task, steps, shift, scheduler, sampler_name):
        sigmas = core_sigmas(steps, shift, scheduler, sampler_name)
        return (switch_step(sigmas, BOUNDARIES[task].boundary), steps)
