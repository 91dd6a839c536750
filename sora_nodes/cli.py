"""The `sora` command: render, run, info, bench, init-checkpoint, verify."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import SafetyRejection, SoraError, WorkflowError

SETTINGS_FLAGS = (
    "steps",
    "cfg",
    "seed",
    "sampler",
    "attention",
    "precision",
    "step_cache",
)  # `sora render`'s SamplingSettings


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (what was wrong, what is allowed)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must look like WIDTHxHEIGHT, e.g. 64x64 or 112x64; got {text!r}"
        ) from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return w, h


RENDER_ARGUMENTS = {  # node input -> the `sora render` argument that sets it
    "prompt": "the prompt",
    "text": "--negative",
    "width": "--size",
    "height": "--size",
    "frames": "--frames",
    "fps": "--fps",
    "seed": "--seed",
    "steps": "--steps",
    "cfg": "--cfg",
    "sampler_name": "--sampler",
    "attention": "--attention",
    "precision": "--precision",
    "step_cache": "--step-cache",
    "tile": "--vae-tile",
}


def _as_arguments(error: WorkflowError) -> str:
    """The graph's errors named by the argument that set the input, each argument once:
    "node 6 (SoraSampler) input 'steps': 5000 is above the maximum 1000" -> "--steps: 5000 is above ...".
    Several nodes take --fps and --seed; the first (the lowest node id) speaks for the argument, so the
    user reads one limit, the binding one: the empty latent's fps minimum is above the saver's."""
    by_argument: dict[str, str] = {}
    for text in error.errors or [str(error)]:
        match = re.match(r"node \S+ \(\w+\) input '(\w+)': (.*)", text)
        if match is None or match.group(1) not in RENDER_ARGUMENTS:
            by_argument.setdefault(text, text)
        else:
            argument = RENDER_ARGUMENTS[match.group(1)]
            by_argument.setdefault(argument, f"{argument}: {match.group(2)}")
    return "; ".join(by_argument.values())


@contextmanager
def _named_by_argument():
    """The render graph's errors named by the argument that set the input, not by the graph's nodes."""
    try:
        yield
    except WorkflowError as e:
        raise SoraError(_as_arguments(e)) from None


def cmd_render(args) -> int:
    """Build the text-to-video graph and run it as `sora run` would: the video and the graph it stores are
    one computation, so `sora run` of that graph gives the same video. Under torchrun with --parallel, every rank
    runs the graph's sampling together and rank 0 alone decodes, checks, marks, signs and writes the file."""
    from .comfy import NODE_CLASS_MAPPINGS as NODES
    from .families.pick import pick_model
    from .flags import settings_from_args
    from .graph import render
    from .io.device import pick_device
    from .io.output_files import check_output_file
    from .models.latent_format import SORA_LATENT
    from .parallel.launch import close_parallel, init_parallel
    from .parallel.layout import check_world, use_parallel
    from .pipeline.generate import check_clip, check_render
    from .pipeline.sampling import SamplingSettings
    from .recaption import recaption
    from .safety.gate import require_prompt, require_safe_prompt

    # Every check that needs no model runs before the first one (the prompt filter's included) loads, each the
    # library's own, the one the graph's nodes run in ComfyUI: a bad -o, --steps or size fails in no time.
    require_prompt(args.prompt)
    if args.parallel:
        from .parallel.launch import world_from_env

        check_world(args.parallel, world_from_env()[1])  # every rank says the same, before any waits
    output = check_output_file(args.output, overwrite=args.overwrite)
    choice = pick_model(args.model, args.vae, args.text_encoder)
    choice.render_defaults.fill_in(args)  # what the user left out takes the model family's own default
    device, (width, height) = pick_device(args.device), args.size
    rewrite = not args.no_recaption and choice.wan_files is None  # Wan reads the prompt as written
    graph = render.render_graph(
        choice, args.prompt, weight_dtype=args.weight_dtype, negative=args.negative, recaption=rewrite, width=width,
        height=height, frames=args.frames, fps=args.fps, seed=args.seed, steps=args.steps, cfg=args.cfg,
        sampler=args.sampler, attention=args.attention, precision=args.precision, step_cache=args.step_cache,
        decode_tile=args.vae_tile, c2pa_sign=not args.no_c2pa, c2pa_include_prompt=args.c2pa_prompt,
        watermark=not args.no_watermark,
    )  # fmt: skip
    settings = settings_from_args(SamplingSettings, args)
    size = {"width": width, "height": height, "frames": args.frames, "decode_tile": args.vae_tile}
    check_clip(SORA_LATENT, **size)  # the geometry the graph's empty latent imposes on every model
    with _named_by_argument():
        render.check_render_graph(graph, render.render_host(choice, output, quiet=True, device=device), NODES)
    require_safe_prompt(args.prompt)
    context = init_parallel(args.parallel, device, args.parallel_timeout) if args.parallel else None
    main = context is None or context.is_main
    quiet = args.quiet or not main
    try:
        device = context.device if context else device  # each rank's own GPU under NCCL
        host = render.render_host(choice, output, quiet=quiet, device=device)
        if not quiet:  # says once which attention backend "auto" chose
            logging.basicConfig(level=logging.INFO, format="sora: %(message)s")
        check_render(choice.load(device, args.weight_dtype), settings, **size)  # the model's own geometry, memory
        caption = recaption(args.prompt, seed=args.seed, enabled=rewrite)  # what node 9 will compute
        if not quiet and caption.text != args.prompt:
            print(f"recaptioned: {caption.text}")
        start = time.perf_counter()
        with _named_by_argument(), use_parallel(context):
            if main:
                render.run_into(graph, host, NODES, output, replace=args.overwrite, name=args.output)
            else:
                render.run_sampling_only(graph, host, NODES)
    finally:
        if context is not None:
            close_parallel()
    if not quiet:
        seconds = time.perf_counter() - start
        ranks = f" on {context.layout.world} ranks ({args.parallel})" if context else ""
        print(
            f"wrote {args.output} ({args.frames} frames, {width}x{height}, {args.fps:g} fps) in {seconds:.1f} s{ranks}"
        )
    return 0


def cmd_run(args) -> int:
    from .families.wan import FOLDERS
    from .graph.host import HeadlessHost
    from .graph.load import load_workflow
    from .io.output_files import check_output_folder

    output = check_output_folder(args.output)
    path = args.workflow
    graph = load_workflow(path)
    if args.input_dir is not None and not args.input_dir.is_dir():
        raise SoraError(f"--input-dir {args.input_dir} is not a directory")
    default_input = path.parent / "input"
    input_dir = args.input_dir or (default_input if default_input.is_dir() else Path("input"))
    if args.models_dir is not None and not args.models_dir.is_dir():
        raise SoraError(f"--models-dir {args.models_dir} is not a directory (it holds diffusion_models/, vae/, ...)")
    host = HeadlessHost(
        output=output, input=input_dir, quiet=args.quiet, allow_absolute_inputs=args.allow_absolute_inputs
    )
    if args.models_dir is not None:
        host.weights = args.models_dir
    try:
        return _run_graph(args, path, graph, host)
    except WorkflowError as e:
        if "(SoraWanLoader)" not in str(e) or args.models_dir is not None:
            raise
        where = f"{host.weights}/{{{','.join(FOLDERS.values())}}}/"
        raise WorkflowError(f"{e}; Wan files were looked for in {where}: pass --models-dir", e.errors) from None


def _run_graph(args, path, graph, host) -> int:
    from .comfy import NODE_CLASS_MAPPINGS
    from .graph.comfyui_server import core_nodes, find_comfyui, no_comfyui_message, run_in_comfyui
    from .graph.convert import ConversionError, ui_to_api
    from .graph.guard import guard_graph
    from .graph.host import Interrupted, use_host
    from .graph.load import workflow_format
    from .graph.overrides import apply_overrides
    from .graph.runner import run_workflow

    mapping = NODE_CLASS_MAPPINGS
    ui = None
    with use_host(host):  # combo choices (models, input videos) come from the host's folders
        if workflow_format(graph, str(path)) == "ui":
            ui = graph
            try:
                graph = ui_to_api(ui, mapping, where=str(path))
            except ConversionError as e:
                twin = path.parent / "api" / path.name
                core = sorted({n.get("type") for n in ui.get("nodes", [])} - set(mapping))
                if core and twin.is_file():  # the pack cannot convert core nodes' widgets; their API twin runs
                    raise WorkflowError(
                        f"{path} uses nodes the pack does not provide ({', '.join(core)}), so it runs in a real "
                        f"ComfyUI from its API form: sora run {twin} --comfyui DIR",
                        e.errors,
                    ) from None
                if twin.is_file():
                    raise WorkflowError(f"{e}; its API version runs as is: sora run {twin}", e.errors) from None
                raise
        core = core_nodes(graph, mapping)
        install = find_comfyui(args.comfyui, args.comfyui_args)
        if core and install is None:
            raise SoraError(no_comfyui_message(core))
        graph, ui = apply_overrides(graph, mapping, args.set, ui)
        graph = guard_graph(graph, where=str(path))
        if core:  # core loaders and samplers: the user's ComfyUI runs the graph, safety gates included
            files = run_in_comfyui(
                install, graph, ui, output_dir=host.output, input_dir=host.input, models_dir=args.models_dir,
                quiet=args.quiet,
            )  # fmt: skip
            for file in files:
                print(file)
            return 0
        try:
            files = run_workflow(graph, mapping=mapping, host=host, ui=ui, where=str(path))
        except Interrupted:
            raise KeyboardInterrupt from None
    for file in files:
        print(file)
    return 0


def cmd_info(args) -> int:
    import torch

    from .families.bundle import default_model_path
    from .models.attention import available_backends

    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    model_path = default_model_path()
    info = {
        "sora_nodes": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "devices": devices,
        "attention_backends": {
            d: available_backends(d) for d in ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        },
        "default_model": str(model_path),
        "default_model_exists": model_path.exists(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:22s} {value}")
    return 0


def cmd_init_checkpoint(args) -> int:
    from .families.bundle import new_sora_model, save_sora_model

    model = new_sora_model(args.dit, args.vae, seed=args.seed)
    path = save_sora_model(
        args.output,
        model,
        training={"untrained": True, "seed": args.seed, "dit_preset": args.dit, "vae_preset": args.vae},
    )
    print(f"wrote untrained checkpoint {path} (DiT {args.dit}, VAE {args.vae})")
    return 0


def cmd_bench(args) -> int:
    from importlib import import_module

    return import_module(f"sora_nodes.bench.{args.what.replace('-', '_')}").main(args.rest)


def cmd_verify(args) -> int:
    from .provenance import verify

    if not args.file.is_file():
        raise SoraError(f"{args.file} does not exist; pass the path of an .mp4 file")
    report = verify(args.file, trust_anchors=None if args.trust is None else args.trust)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        status = "unsigned" if not report["signed"] else "valid" if report["valid"] else "INVALID"
        if report["valid"]:
            status += ", trusted" if report["trusted"] else ", not from a trusted root"
        print(f"{args.file}: {status}")
        for key, value in report["claims"].items():
            print(f"  {key:18s} {value}")
        for error in report["errors"]:
            print(f"  error: {error}")
        mark = report["watermark"]
        found = f"found (confidence {mark['confidence']:.2f})" if mark["found"] else "not found"
        print(f"  {'watermark':18s} {mark.get('error') or found}")
    return 0 if report["valid"] else 1


def build_parser() -> argparse.ArgumentParser:
    from .families.defaults import SORA, WAN
    from .flags import add_settings_arguments
    from .pipeline.sampling import SamplingSettings

    parser = OneLineParser(prog="sora", description="Sora-style text-to-video (sora-nodes)")
    parser.add_argument("--version", action="version", version=f"sora-nodes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    render = sub.add_parser("render", help="render a video from a text prompt")
    render.add_argument("prompt")
    # a str, not a Path: Path("") is "." and Path("clips/") drops the slash, and both say "a folder"
    render.add_argument("-o", "--output", default="out.mp4", help="output .mp4 (default out.mp4)")
    render.add_argument(
        "-y", "--overwrite", action="store_true", help="replace the -o file if it exists (else that is an error)"
    )
    size = "{}x{}".format
    render.add_argument(
        "--size",
        type=parse_size,
        default=None,
        help=f"WIDTHxHEIGHT (default {size(*SORA.size)}; Wan {size(*WAN.size)})",
    )
    render.add_argument(
        "--frames", type=int, default=None, help=f"1 + k*k_t frames (default {SORA.frames}; Wan {WAN.frames})"
    )
    render.add_argument("--fps", type=float, default=None, help=f"default {SORA.fps:g}; Wan {WAN.fps:g}")
    # steps and sampler: None until the model's family says
    add_settings_arguments(render, SamplingSettings, SETTINGS_FLAGS, steps=None, sampler=None)
    render.add_argument("--negative", default=None, help="negative prompt (default empty; Wan: its own default)")
    render.add_argument(
        "--no-recaption", action="store_true", help="condition on the prompt as written, not the detailed caption"
    )
    render.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint .safetensors (default: models/sora/), or a Wan 2.1 diffusion model (file or release folder)",
    )
    render.add_argument("--vae", type=Path, default=None, help="Wan VAE file (default: found beside --model)")
    render.add_argument(
        "--text-encoder", type=Path, default=None, help="Wan umT5-XXL file (default: found beside --model)"
    )
    render.add_argument(
        "--weight-dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto", help="Wan weights in memory"
    )
    render.add_argument(
        "--vae-tile", type=int, default=None, metavar="CELLS", help="decode in spatial tiles of this many latent cells"
    )
    render.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    render.add_argument("--no-c2pa", action="store_true", help="do not sign the MP4 with a C2PA manifest")
    render.add_argument(
        "--c2pa-prompt", action="store_true", help="put the prompt in the signed C2PA manifest (off by default)"
    )
    render.add_argument(
        "--no-watermark", action="store_true", help="do not hide the invisible sora-nodes mark in the frames"
    )
    render.add_argument(
        "--parallel",
        choices=("ulysses", "cfg", "cfg+ulysses"),
        default=None,
        help="spread sampling over the ranks torchrun started (torchrun --nproc-per-node N -m sora_nodes.cli render)",
    )
    render.add_argument(
        "--parallel-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long a rank waits for the others before it gives up (default 300)",
    )
    render.add_argument("-q", "--quiet", action="store_true")
    render.set_defaults(func=cmd_render)

    run = sub.add_parser("run", help="run a ComfyUI workflow file (UI or API format) headless")
    run.add_argument("workflow", type=Path, help="workflow .json, e.g. workflows/text_to_video.json")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE_ID.INPUT=VALUE",
        help="change a widget value before running, e.g. --set 3.seed=42 (repeatable)",
    )
    run.add_argument("-o", "--output", default="output", help="output folder (default ./output)")
    run.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="a models/ folder with diffusion_models/, vae/ and text_encoders/ (e.g. ComfyUI's), for Wan graphs",
    )
    run.add_argument(
        "--input-dir", type=Path, default=None, help="folder of input videos (default <workflow dir>/input or ./input)"
    )
    run.add_argument(
        "--comfyui",
        type=Path,
        default=None,
        metavar="DIR",
        help="a ComfyUI checkout that runs graphs with core nodes (UNETLoader, KSampler...); default $SORA_COMFYUI",
    )
    run.add_argument(
        "--comfyui-args",
        default=None,
        metavar="ARGS",
        help='extra arguments for that ComfyUI server, e.g. "--lowvram" (default $SORA_COMFYUI_ARGS)',
    )
    run.add_argument(
        "--allow-absolute-inputs",
        action="store_true",
        help="let the workflow name input videos by absolute path (by default it reads only from the input folder)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars; print only the output files")
    run.set_defaults(func=cmd_run)

    info = sub.add_parser("info", help="version, devices, attention backends, default model")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    init = sub.add_parser("init-checkpoint", help="write an untrained checkpoint (for tests or as a training start)")
    init.add_argument("output", type=Path)
    init.add_argument("--dit", default="tiny", help="DiT preset (tiny, S, B, L, XL)")
    init.add_argument("--vae", default="tiny", help="VAE preset")
    init.add_argument("--seed", type=int, default=0)
    init.set_defaults(func=cmd_init_checkpoint)

    bench = sub.add_parser(
        "bench",
        help="benchmarks: sora bench attention|render|wan-dit|watermark|train-precision|parallel|step-cache ...",
    )
    bench.add_argument(
        "what", choices=("attention", "render", "wan-dit", "watermark", "train-precision", "parallel", "step-cache")
    )
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)

    verify = sub.add_parser("verify", help="check a video's C2PA signature and show its claims")
    verify.add_argument("file", type=Path, help="video .mp4")
    verify.add_argument("--json", action="store_true")
    verify.add_argument(
        "--trust",
        type=Path,
        action="append",
        metavar="PEM",
        help="root certificates to trust instead of the local sora-nodes root (repeatable)",
    )
    verify.set_defaults(func=cmd_verify)

    from .train.cli import add_parser as add_train_parser

    add_train_parser(sub)
    from .recaption.cli import add_parser as add_recaption_parser

    add_recaption_parser(sub)
    from .evaluate.cli import add_parser as add_eval_parser

    add_eval_parser(sub)
    from .safety.cli import add_parser as add_safety_parser

    add_safety_parser(sub)
    return parser


def one_line(error: object) -> str:
    """The message with control characters (a newline in a node name, say) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(error))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that every `with` and atomic write on the way out
    removes its temporary files and folders; the default action would end the process with them on disk."""


@contextmanager
def terminate_like_interrupt(enabled: bool):
    """While the block runs, SIGTERM raises Terminated in the main thread (the only one that may take it)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


WRITES_OUTPUTS = {"render", "run"}  # the commands whose temporary files SIGTERM must not leave behind


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with terminate_like_interrupt(args.command in WRITES_OUTPUTS):
            return args.func(args)
    except SafetyRejection as e:
        print(f"sora {args.command}: refused: {one_line(e)}", file=sys.stderr)
        return 3
    except SoraError as e:
        print(f"sora {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"sora {args.command}: terminated; nothing was written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"sora {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
