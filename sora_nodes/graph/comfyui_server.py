"""`sora run` through a real ComfyUI, for graphs that hold ComfyUI core nodes (UNETLoader, KSampler, ...).

The pack's own runner knows only the pack's nodes. A graph built on core's loaders and sampler runs in the
user's ComfyUI instead: a server started on loopback from their checkout, with this pack loaded from this
library and their models folder, fed the graph (its safety gates already added by `guard_graph`), followed
to the end with progress shown, its output files copied out, then stopped. Nothing here imports ComfyUI:
the server is a child process, reached over its HTTP and WebSocket API.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SoraError
from ..io.output_files import save_new_file

ENV_DIR = "SORA_COMFYUI"  # a ComfyUI checkout, when --comfyui is not given
ENV_PYTHON = "SORA_COMFYUI_PYTHON"  # its interpreter (default: its own venv's, else this one)
ENV_ARGS = "SORA_COMFYUI_ARGS"  # extra server arguments, e.g. "--lowvram"
READY_SECONDS = 300.0  # a cold start on a slow machine imports torch and every custom node
PACK_ENTRY = "from sora_nodes.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: F401\n"


@dataclass(frozen=True)
class ComfyUIInstall:
    root: Path  # the checkout (holds main.py)
    python: str  # the interpreter that runs it
    extra_args: tuple[str, ...] = ()


def core_nodes(graph: dict, mapping: dict) -> list[str]:
    """The class types of an API graph that this pack does not provide (ComfyUI core's, or other packs'). An
    unknown `Sora...` name is left out: it is a misspelt node of this pack, which validation reports."""
    kinds = {node.get("class_type") for node in graph.values() if isinstance(node, dict)}
    return sorted(k for k in kinds if isinstance(k, str) and k not in mapping and not k.startswith("Sora"))


def find_comfyui(option: Path | None, extra_args: str | None = None) -> ComfyUIInstall | None:
    """The ComfyUI named by --comfyui, else $SORA_COMFYUI; None when neither is given."""
    root = option or (Path(os.environ[ENV_DIR]) if os.environ.get(ENV_DIR) else None)
    if root is None:
        return None
    root = root.expanduser()
    if not (root / "main.py").is_file():
        raise SoraError(
            f"{root} is not a ComfyUI checkout (it has no main.py); point --comfyui at the folder of main.py"
        )
    python = os.environ.get(ENV_PYTHON)
    if not python:
        own = [root / ".venv" / "bin" / "python", root / "venv" / "bin" / "python"]
        python = next((str(p) for p in own if p.is_file()), sys.executable)
    args = shlex.split(extra_args if extra_args is not None else os.environ.get(ENV_ARGS, ""))
    return ComfyUIInstall(root, python, tuple(args))


def no_comfyui_message(nodes: list[str]) -> str:
    return (
        f"this workflow uses nodes the pack does not provide ({', '.join(nodes)}), so it runs in a real ComfyUI: "
        f"pass --comfyui DIR (a ComfyUI checkout) or set {ENV_DIR}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _needs_cpu_flag(python: str) -> bool:
    """ComfyUI on a CPU-only torch needs --cpu to start; ask the server's own interpreter."""
    check = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([python, "-c", check], capture_output=True).returncode != 0


class ComfyUIServer:
    """One ComfyUI server for one run (a context manager): started, used, stopped."""

    def __init__(self, install: ComfyUIInstall, *, input_dir: Path, models_dir: Path | None, quiet: bool = False):
        self.install, self.quiet = install, quiet
        self.work = Path(tempfile.mkdtemp(prefix="sora-comfyui-"))
        self.output = self.work / "output"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        nodes = self.work / "custom_nodes"
        if not (install.root / "custom_nodes" / "sora_nodes").exists():  # the user's own install wins
            (nodes / "sora_nodes").mkdir(parents=True)
            (nodes / "sora_nodes" / "__init__.py").write_text(PACK_ENTRY)
        paths = {"custom_nodes": nodes}
        if models_dir is not None:  # every models subfolder (diffusion_models, vae, text_encoders, loras, ...)
            paths |= {child.name: child for child in sorted(models_dir.iterdir()) if child.is_dir()}
        config = self.work / "extra_model_paths.yaml"
        config.write_text("sora:\n" + "".join(f"  {k}: {json.dumps(str(v))}\n" for k, v in paths.items()))
        self.command = [install.python, "main.py", "--listen", "127.0.0.1", "--port", str(self.port)]
        self.command += ["--database-url", "sqlite:///:memory:", "--extra-model-paths-config", str(config)]
        self.command += ["--input-directory", str(input_dir.resolve()), "--output-directory", str(self.output)]
        for name in ("temp", "user", "output"):
            (self.work / name).mkdir()  # ComfyUI refuses folders that do not exist yet
        for name in ("temp", "user"):
            self.command += [f"--{name}-directory", str(self.work / name)]
        if _needs_cpu_flag(install.python):
            self.command.append("--cpu")
        self.command += list(install.extra_args)
        self.log = self.work / "comfyui.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ComfyUIServer:
        library = str(Path(__file__).resolve().parents[2])  # the folder that holds this sora_nodes package
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [library, env.get("PYTHONPATH")]))
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.install.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SoraError(f"ComfyUI exited at start-up (code {self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                self._get("/system_stats")
                log = self.log_tail(1_000_000).splitlines()
                if any("IMPORT FAILED" in line and "sora_nodes" in line for line in log):  # ComfyUI goes on
                    raise SoraError(f"ComfyUI could not import the sora_nodes pack:\n{self.log_tail()}")
                return
            time.sleep(0.5)
        raise SoraError(f"ComfyUI did not answer on {self.url} within {READY_SECONDS:.0f} s:\n{self.log_tail()}")

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def _post(self, path: str, payload: dict) -> dict:
        request = urllib.request.Request(
            self.url + path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise SoraError(f"ComfyUI refused the workflow: {_refusal(error.read())}") from None

    def run(self, graph: dict, ui: dict | None, progress: Callable[[str], None]) -> dict:
        """Queue `graph`, follow it to the end showing progress, and return its /history entry."""
        client = uuid.uuid4().hex
        extra = {"extra_pnginfo": {"workflow": ui}} if ui is not None else {}
        try:
            with self._messages(client) as messages:
                prompt_id = self._post("/prompt", {"prompt": graph, "client_id": client, "extra_data": extra})[
                    "prompt_id"
                ]
                names = {node_id: node["class_type"] for node_id, node in graph.items()}
                for kind, data in messages(prompt_id):
                    if kind == "executing" and data.get("node"):
                        progress(f"{names.get(data['node'], '?')} (node {data['node']})")
                    elif kind == "progress":
                        progress(f"  step {data['value']}/{data['max']}")
                    elif kind == "execution_error":
                        raise SoraError(
                            f"{data.get('node_type')} (node {data.get('node_id')}) failed: "
                            f"{data.get('exception_message', '').strip()}"
                        )
                    elif kind == "execution_interrupted":
                        raise SoraError("the run was interrupted")
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):
                self._post("/interrupt", {})
            raise
        return self._history(prompt_id)

    @contextlib.contextmanager
    def _messages(self, client: str) -> Iterator[Callable[[str], Iterator[tuple[str, dict]]]]:
        """Yields a function that iterates a prompt's WebSocket messages until it ends (polling /history where
        websocket-client is missing: then no step progress, only the end)."""
        try:
            import websocket
        except ImportError:
            websocket = None
        if websocket is None:

            def poll(prompt_id: str) -> Iterator[tuple[str, dict]]:
                while not self._get(f"/history/{prompt_id}"):
                    time.sleep(0.5)
                status = self._get(f"/history/{prompt_id}")[prompt_id].get("status", {})
                for kind, data in status.get("messages", []):
                    if kind in ("execution_error", "execution_interrupted"):
                        yield kind, data

            yield poll
            return
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws?clientId={client}", timeout=3600)

        def follow(prompt_id: str) -> Iterator[tuple[str, dict]]:
            while True:
                opcode, data = ws.recv_data()
                if opcode != websocket.ABNF.OPCODE_TEXT:
                    continue  # preview images
                message = json.loads(data)
                kind, body = message.get("type"), message.get("data") or {}
                if body.get("prompt_id") not in (None, prompt_id):
                    continue
                yield kind, body
                if kind in ("execution_error", "execution_interrupted", "execution_success") or (
                    kind == "executing" and body.get("node") is None and body.get("prompt_id") == prompt_id
                ):
                    return

        try:
            yield follow
        finally:
            ws.close()

    def _history(self, prompt_id: str) -> dict:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            entry = self._get(f"/history/{prompt_id}").get(prompt_id)
            if entry:
                return entry
            time.sleep(0.2)
        raise SoraError(f"ComfyUI ran the workflow but kept no history of it:\n{self.log_tail()}")

    def collect(self, history: dict, output_dir: Path) -> list[Path]:
        """Copies every output file the run saved into `output_dir` (same subfolders, never overwriting)."""
        files = []
        for outputs in history.get("outputs", {}).values():
            for entries in outputs.values():
                for entry in entries if isinstance(entries, list) else []:
                    if not isinstance(entry, dict) or entry.get("type") != "output" or "filename" not in entry:
                        continue
                    source = self.output / entry.get("subfolder", "") / entry["filename"]
                    match = re.match(r"(.*?)(?:_\d+_)?(\.[^.]+)$", entry["filename"])
                    prefix = str(Path(entry.get("subfolder", "")) / match.group(1))
                    copy = lambda target, source=source: shutil.copyfile(source, target)  # noqa: E731
                    files.append(save_new_file(output_dir, prefix, match.group(2), copy))
        return files


def _refusal(body: bytes) -> str:
    """ComfyUI's 400 answer in one readable line: the error and each node's input errors."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:2000]
    parts = [answer.get("error", {}).get("message", "")]
    for node_id, node in (answer.get("node_errors") or {}).items():
        for error in node.get("errors", []):
            parts.append(f"node {node_id} ({node.get('class_type')}): {error.get('message')}: {error.get('details')}")
    return "; ".join(p for p in parts if p)


def run_in_comfyui(
    install: ComfyUIInstall,
    graph: dict,
    ui: dict | None,
    *,
    output_dir: Path,
    input_dir: Path,
    models_dir: Path | None,
    quiet: bool = False,
) -> list[Path]:
    """Runs an API graph in a ComfyUI started for it; returns the files it saved, copied into `output_dir`."""
    say = (lambda _: None) if quiet else (lambda text: print(f"comfyui: {text}", file=sys.stderr, flush=True))
    say(f"starting {install.root} on loopback")
    with ComfyUIServer(install, input_dir=input_dir, models_dir=models_dir, quiet=quiet) as server:
        history = server.run(graph, ui, say)
        return server.collect(history, output_dir)
