"""`sora render` as a graph: the text-to-video graph of a prompt for a chosen model, the headless host that finds
its files, the check of that graph before any model loads, and the run that leaves one finished video or none.

The graph is what the MP4 stores, so `sora run` of it (or ComfyUI) renders the same video. The checks are the
graph's own, the ones ComfyUI runs when it is queued (each input's range, the empty latent's sizes), called
before the seconds of loading.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import SoraError, WorkflowError
from ..families import wan
from ..families.bundle import MODELS_DIR, checkpoint_name
from ..families.pick import ModelChoice
from ..io.atomic import move_into_place
from .host import HeadlessHost, Interrupted, use_host
from .runner import run_workflow
from .templates import text_to_video_graph, wan_loader_node
from .validate import validate

LOADER_NODE = "1"  # text_to_video_graph's checkpoint (or Wan) loader
SAMPLER_NODE = "6"  # and its sampler
WHERE = "the render graph"


def render_graph(choice: ModelChoice, prompt: str, *, weight_dtype: str = "auto", **inputs) -> dict:
    """The text-to-video graph of `prompt` for the chosen model: our checkpoint by its name in models/sora/, or
    Wan's three files as ComfyUI's folders list them. `inputs` are `text_to_video_graph`'s."""
    files = choice.wan_files
    loader = None if files is None else wan_loader_node(*wan.wan_names(files), weight_dtype)
    return text_to_video_graph(prompt, ckpt_name=checkpoint_name(choice.path), loader=loader, **inputs)


def render_host(choice: ModelChoice, output: Path, *, quiet: bool, device) -> HeadlessHost:
    """The headless host whose folders hold the render's model files under the names its graph uses."""
    in_models = choice.path.resolve().is_relative_to(MODELS_DIR)
    return HeadlessHost(
        output=output.parent,  # the render's own hidden folder once it starts
        models=[MODELS_DIR if in_models else choice.path.resolve().parent],
        weights=wan.wan_root(choice.wan_files) or MODELS_DIR.parent,
        quiet=quiet,
        compute=device,
    )


def check_render_graph(graph: dict, host: HeadlessHost, mapping: dict) -> None:
    """The graph against its nodes' schemas (--steps at most 1000, --fps at least 1, the empty latent's sizes, ...)
    before any model loads; raises WorkflowError. The loader's inputs are the model files: loading them judges
    them, with the precise reason, so their errors are left to it."""
    with use_host(host):  # the loader's file names are judged against the host's folders
        try:
            validate(graph, mapping, WHERE)
        except WorkflowError as e:
            errors = [error for error in e.errors if not error.startswith(f"node {LOADER_NODE} (")]
            if errors:
                raise WorkflowError(str(e), errors) from None


def run_sampling_only(graph: dict, host: HeadlessHost, mapping: dict) -> None:
    """A parallel render's rank other than 0: run the render graph up to its sampler (whose DiT calls it shares
    with the other ranks), and write nothing: rank 0 alone decodes, checks, marks, signs and saves."""
    try:
        run_workflow(graph, mapping=mapping, host=host, where=WHERE, until=[SAMPLER_NODE])
    except Interrupted:
        raise KeyboardInterrupt from None
    except WorkflowError:
        raise
    except SoraError as e:
        raise e.__cause__ if isinstance(e.__cause__, SoraError) else e from None


def run_into(graph: dict, host: HeadlessHost, mapping: dict, output: Path, *, replace: bool, name: str) -> None:
    """Run the render graph in a hidden folder beside `output` and move its video into place: a failed or
    interrupted render leaves no file. `name` is how the user wrote `output` (-o NAME), for the errors."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        work_dir = tempfile.TemporaryDirectory(dir=output.parent, prefix=".sora-render-")
    except OSError as e:  # checked before the render; this is a folder that changed since
        raise SoraError(f"-o {name}: cannot write in {output.parent} ({e.strerror})") from None
    with work_dir as work:
        host.output = Path(work)
        try:
            (saved,) = run_workflow(graph, mapping=mapping, host=host, where=WHERE)
        except Interrupted:
            raise KeyboardInterrupt from None
        except WorkflowError:  # a value outside a node's range: the caller names the argument
            raise
        except SoraError as e:  # say what was wrong, not which node of the internal graph noticed it
            raise e.__cause__ if isinstance(e.__cause__, SoraError) else e from None
        try:
            move_into_place(saved, output, replace=replace)
        except FileExistsError:
            raise SoraError(
                f"-o {name} appeared while rendering; pass -y (--overwrite) to replace it, or name a new file"
            ) from None
