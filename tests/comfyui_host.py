"""A real ComfyUI server with this pack loaded, for the host tests (server and browser).

ComfyUI is found through $COMFYUI_DIR, else ~/ComfyUI, and run with $COMFYUI_PYTHON, else this
interpreter; $COMFYUI_FRONTEND_ROOT serves another frontend (the `static` folder of a
comfyui-frontend-package wheel) instead of the one the server's requirements pin. Without ComfyUI the
tests skip: CI has no ComfyUI. Nothing here imports ComfyUI; the server is a child process and
everything goes through its HTTP and WebSocket API.

Two ways a user installs the pack, both started here:
- "link": the repository linked into a custom_nodes folder (its root __init__.py is the entry);
- "base": `--base-directory <repo>` (custom_nodes/sora_nodes/__init__.py is the entry, and
  models/ comes from the repository).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STUB = Path(__file__).resolve().parent / "comfyui_stub"  # torchvision and spandrel stand-ins, see their docstrings
PACK_DIR_NAME = "sora_nodes"  # the folder name ComfyUI shows the pack (and its templates) under
READY_TIMEOUT = 180.0  # seconds; the server is ready in ~10 s on 2 cores, far more under load
RUN_TIMEOUT = 600.0
CHROMIUM = os.environ.get("SORA_CHROMIUM", "/usr/bin/chromium")  # Debian's; never `playwright install`
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def comfyui_dir() -> Path | None:
    path = Path(os.environ.get("COMFYUI_DIR") or Path.home() / "ComfyUI").expanduser()
    return path if (path / "main.py").is_file() and (path / "server.py").is_file() else None


def require_comfyui() -> Path:
    """The ComfyUI checkout, or skip the calling test with the reason and the fix."""
    path = comfyui_dir()
    if path is None:
        pytest.skip(
            "ComfyUI not found: set COMFYUI_DIR to a ComfyUI checkout (or put one at ~/ComfyUI) "
            "whose requirements are installed in $COMFYUI_PYTHON (default: this Python)"
        )
    for module, package in (("requests", "requests"), ("websocket", "websocket-client")):
        pytest.importorskip(module, reason=f"the ComfyUI host tests need {package} (pip install {package})")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Run:
    """What one queued prompt produced: its WebSocket messages, preview frames and history entry."""

    prompt_id: str
    messages: list[dict] = field(default_factory=list)  # {"type", "data"} text messages, in order
    previews: dict[str, int] = field(default_factory=dict)  # node id -> binary preview frames received
    message_times: dict[str, float] = field(default_factory=dict)  # type -> time.monotonic() it first arrived
    history: dict = field(default_factory=dict)
    seconds: float = 0.0

    def of_type(self, kind: str) -> list[dict]:
        return [m["data"] for m in self.messages if m["type"] == kind]

    @property
    def ended_with(self) -> str:
        for kind in ("execution_error", "execution_interrupted", "execution_success"):
            if self.of_type(kind):
                return kind
        return "unknown"

    def outputs(self, node_id: str) -> dict:
        return self.history.get("outputs", {}).get(node_id, {})


@dataclass
class ComfyServer:
    mode: str
    url: str
    process: subprocess.Popen
    log_path: Path
    output: Path
    input: Path
    user: Path
    temp: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = 6000) -> str:
        return self.log()[-chars:]

    def get(self, path: str, **params):
        import requests

        return requests.get(self.url + path, params=params, timeout=60)

    def post(self, path: str, payload: dict | None = None):
        import requests

        return requests.post(self.url + path, json=payload or {}, timeout=60)

    def object_info(self) -> dict:
        return self.get("/object_info").json()

    def queue(self, prompt: dict, client_id: str, workflow: dict | None = None):
        payload = {"prompt": prompt, "client_id": client_id}
        if workflow is not None:
            payload["extra_data"] = {"extra_pnginfo": {"workflow": workflow}}
        return self.post("/prompt", payload)

    def run(self, prompt: dict, workflow: dict | None = None, on_progress=None, timeout: float = RUN_TIMEOUT) -> Run:
        """Queue `prompt` and follow it on /ws until it ends; `on_progress(server, data)` sees each progress message."""
        import websocket

        client_id = uuid.uuid4().hex
        ws = websocket.create_connection(f"{self.ws_url}/ws?clientId={client_id}", timeout=timeout)
        try:
            start = time.monotonic()
            response = self.queue(prompt, client_id, workflow)
            if response.status_code != 200:
                raise AssertionError(f"POST /prompt answered {response.status_code}: {response.text[:3000]}")
            run = Run(response.json()["prompt_id"])
            executing = None
            while True:
                if time.monotonic() - start > timeout:
                    raise AssertionError(f"prompt {run.prompt_id} did not end in {timeout:.0f} s\n{self.log_tail()}")
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    run.previews[executing] = run.previews.get(executing, 0) + 1
                    continue
                if opcode != websocket.ABNF.OPCODE_TEXT:
                    continue
                message = json.loads(data)
                kind, body = message.get("type"), message.get("data") or {}
                if body.get("prompt_id") not in (None, run.prompt_id):
                    continue
                run.messages.append({"type": kind, "data": body})
                run.message_times.setdefault(kind, time.monotonic())
                if kind == "executing":
                    executing = body.get("node")
                    if executing is None:
                        break
                elif kind == "progress" and on_progress is not None:
                    on_progress(self, body)
                elif kind in ("execution_error", "execution_interrupted"):
                    break
            run.seconds = time.monotonic() - start
        finally:
            ws.close()
        run.history = self.history(run.prompt_id)
        return run

    def history(self, prompt_id: str, timeout: float = 30.0) -> dict:
        """The /history entry, which the server writes just after the last WebSocket message."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.get(f"/history/{prompt_id}").json().get(prompt_id)
            if entry or time.monotonic() > deadline:
                return entry or {}
            time.sleep(0.1)

    def view(self, entry: dict) -> bytes:
        response = self.get("/view", filename=entry["filename"], subfolder=entry["subfolder"], type=entry["type"])
        response.raise_for_status()
        return response.content

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _needs_stub(python: str) -> bool:
    """True when `python` lacks torchvision or spandrel (tests/comfyui_stub stands in for both)."""
    check = "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('torchvision', 'spandrel')))"
    return subprocess.run([python, "-c", check], capture_output=True).returncode != 0


def start_server(comfy: Path, mode: str, root: Path) -> ComfyServer:
    """Start ComfyUI with the pack in `mode` ("link" or "base"; "bare" is ComfyUI without the pack, the
    baseline of what the host does on its own), its folders under `root`; wait until it answers."""
    folders = {name: root / name for name in ("output", "input", "user", "temp")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    port = free_port()
    command = [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port)]
    command += ["--database-url", "sqlite:///:memory:"]  # keeps the checkout's user/ folder untouched
    if os.environ.get("COMFYUI_FRONTEND_ROOT"):  # another frontend's static folder, e.g. a newer package's
        command += ["--front-end-root", os.environ["COMFYUI_FRONTEND_ROOT"]]
    for name, folder in folders.items():
        command += [f"--{name}-directory", str(folder)]
    # A first-time user gets the template browser over the canvas; the browser test is a returning one.
    settings = folders["user"] / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    if mode in ("link", "bare"):
        custom_nodes = root / "custom_nodes"
        custom_nodes.mkdir(exist_ok=True)
        if mode == "link":
            (custom_nodes / PACK_DIR_NAME).symlink_to(REPO, target_is_directory=True)
        config = root / "extra_model_paths.yaml"
        # ComfyUI's own model folders, empty until a test puts (tiny Wan) files in them
        models = {name: root / "models" / name for name in ("diffusion_models", "vae", "text_encoders")}
        for folder in models.values():
            folder.mkdir(parents=True, exist_ok=True)
        lines = [f"  custom_nodes: {json.dumps(str(custom_nodes))}"]
        lines += [f"  {name}: {json.dumps(str(folder))}" for name, folder in models.items()]
        config.write_text("x:\n" + "\n".join(lines) + "\n")
        command += ["--extra-model-paths-config", str(config)]
    elif mode == "base":
        command += ["--base-directory", str(REPO)]
    else:
        raise ValueError(f"mode must be 'link', 'base' or 'bare', got {mode!r}")
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # the tests read the log while the server runs
    if _needs_stub(python):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STUB), env.get("PYTHONPATH")]))
    log_path = root / "comfyui.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=comfy, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = ComfyServer(mode, f"http://127.0.0.1:{port}", process, log_path, **folders)
    try:
        _wait_ready(server)
        if mode != "bare":
            _check_pack_imported(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: ComfyServer) -> None:
    import requests

    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"ComfyUI exited with code {server.process.returncode} at start-up:\n{server.log_tail()}")
        try:
            if requests.get(server.url + "/system_stats", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"ComfyUI did not answer on {server.url} within {READY_TIMEOUT:.0f} s:\n{server.log_tail()}")


def _check_pack_imported(server: ComfyServer) -> None:
    """ComfyUI keeps running when a pack fails to import; only its log says so.

    Core extras that need torchaudio or kornia (audio, canny, morphology) fail here too; they do not count.
    """
    log = server.log()
    ours = [line for line in log.splitlines() if "IMPORT FAILED" in line and PACK_DIR_NAME in line]
    if ours:
        pytest.fail(f"ComfyUI could not import the pack ({server.mode} mode): {ours[0].strip()}\n{log[-8000:]}")
    if f"{os.sep}{PACK_DIR_NAME}" not in log.split("Import times for custom nodes:")[-1]:
        pytest.fail(f"ComfyUI did not list the pack among its custom nodes ({server.mode} mode):\n{log[-8000:]}")


_servers: dict[str, ComfyServer] = {}


def shared_server(request: pytest.FixtureRequest, mode: str, name: str = "") -> ComfyServer:
    """One server per (mode, name) for the whole session, shared by every test module and stopped at the end.

    A distinct `name` gives a module a server of its own, so that ComfyUI's cache of earlier runs cannot
    turn its render into a replay.
    """
    comfy = require_comfyui()
    key = f"{mode}-{name}" if name else mode
    if key not in _servers:
        root = request.getfixturevalue("tmp_path_factory").mktemp(f"comfyui-{key}")
        _servers[key] = server = start_server(comfy, mode, root)

        def stop():
            _servers.pop(key, None)
            server.stop()

        request.config.add_cleanup(stop)
    return _servers[key]


def provide_sample_inputs(server: ComfyServer) -> None:
    """Copies the task workflows' sample inputs (workflows/inputs/) into the server's input folder."""
    import shutil

    for path in (REPO / "workflows" / "inputs").glob("*"):
        if path.is_file():
            shutil.copy2(path, server.input / path.name)


def api_workflows() -> list[Path]:
    """The shipped API workflows on the pack's own models (the core_ ones need core's model files)."""
    from shipped_workflows import api_workflows as shipped

    return shipped(core=False)


def ui_twin(api_file: Path) -> Path:
    return api_file.parent.parent / api_file.name


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def artifacts_dir() -> Path:
    """$SORA_TEST_ARTIFACTS, else <repo>/test-artifacts/ (which ignores itself in git)."""
    folder = Path(os.environ.get("SORA_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    if "SORA_TEST_ARTIFACTS" not in os.environ and not (folder / ".gitignore").exists():
        (folder / ".gitignore").write_text("*\n")
    return folder


def require_browser() -> None:
    """Skip unless Playwright and a Chromium binary are present."""
    pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set SORA_CHROMIUM to its path")


@contextlib.contextmanager
def frontend(server: ComfyServer, width: int = 1600, height: int = 1000):
    """The server's own frontend in headless Chromium: yields (page, console), console collecting its log lines."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
            page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
            page.on("requestfailed", lambda r: console.append(f"[requestfailed] {r.url} {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and console.append(f"[http {r.status}] {r.url}"))
            page.goto(server.url)
            page.wait_for_function("() => window.app?.graph && window.app.canvas", timeout=120_000)
            yield page, console
        finally:
            browser.close()


COLUMN_GAP, ROW_GAP = 80, 60  # canvas units between nodes; a node's title bar sits above its pos
MIN_WIDTH = 240  # narrower nodes cut their titles short


def layout(graph: dict, title_height: float) -> dict[int, tuple[float, float]]:
    """Left-to-right positions for a serialised graph: each node one column before its first consumer."""
    consumers: dict[int, set[int]] = {n["id"]: set() for n in graph["nodes"]}
    for _, source, _, target, _, _ in graph["links"]:
        consumers[source].add(target)
    column: dict[int, int] = {}

    def place(node: int) -> int:
        if node not in column:
            column[node] = min((place(c) for c in consumers[node]), default=len(consumers)) - 1
        return column[node]

    for node in consumers:
        place(node)
    sizes = {n["id"]: n["size"] for n in graph["nodes"]}
    positions: dict[int, tuple[float, float]] = {}
    x = 0.0
    for col in sorted(set(column.values())):
        ids = sorted(n for n in column if column[n] == col)
        y = title_height
        for node in ids:
            positions[node] = (x, y)
            y += sizes[node][1] + title_height + ROW_GAP
        x += max(sizes[n][0] for n in ids) + COLUMN_GAP
    return positions


def wait_until_sizes_settle(page, quiet_ms: int = 1000, timeout_ms: int = 15_000) -> None:
    """Waits until no node has changed size for `quiet_ms` (or `timeout_ms` passed)."""
    page.evaluate(
        """async ([quiet, timeout]) => {
            const sizes = () => JSON.stringify(app.graph._nodes.map(n => [n.id, ...n.size]));
            const start = performance.now();
            let last = sizes(), since = start;
            while (performance.now() - since < quiet && performance.now() - start < timeout) {
                await new Promise(r => setTimeout(r, 100));
                const now = sizes();
                if (now !== last) { last = now; since = performance.now(); }
            }
        }""",
        [quiet_ms, timeout_ms],
    )


def serialized_graph(page) -> dict:
    """The graph as the frontend saves it. Through JSON text: Playwright would turn `undefined` into null,
    which the frontend's own schema then rejects when the file is opened."""
    return json.loads(page.evaluate("() => JSON.stringify(app.graph.serialize())"))


def export_ui_workflow(
    page, api: dict, name: str, sizes: dict[str, tuple[int, int]] | None = None, fixed_seeds: tuple[str, ...] = ()
) -> dict:
    """Load an API-format graph into the frontend, lay it out, and return the UI-format graph it saves.

    `sizes` maps a class_type to a node size (e.g. room for a video preview). The seeds of the
    `fixed_seeds` class_types keep their value after a run ("control after generate" = fixed).
    """
    page.evaluate("async ([api, name]) => await app.loadApiJson(api, name)", [api, name])
    wait_until_sizes_settle(page)  # a loader grows when its video preview arrives
    page.evaluate(
        """(types) => app.graph._nodes.filter(n => types.includes(n.type)).forEach(n => n.widgets
               .filter(w => w.name === 'control_after_generate').forEach(w => { w.value = 'fixed' }))""",
        list(fixed_seeds),
    )
    page.evaluate(f"() => app.graph._nodes.forEach(n => n.setSize([Math.max(n.size[0], {MIN_WIDTH}), n.size[1]]))")
    for class_type, size in (sizes or {}).items():
        page.evaluate(
            "([type, size]) => app.graph._nodes.filter(n => n.type === type).forEach(n => n.setSize(size))",
            [class_type, list(size)],
        )
    title_height = page.evaluate("() => LiteGraph.NODE_TITLE_HEIGHT")
    for _ in range(3):  # a video loader's preview grows once the canvas draws it: then lay out again
        for node, (x, y) in layout(serialized_graph(page), title_height).items():
            page.evaluate("([id, pos]) => { app.graph.getNodeById(id).pos = pos }", [node, [x, y]])
        # Fit the saved view to the graph; the canvas measures nodes when it draws, so let it draw first.
        page.evaluate(
            """async () => {
                const frame = () => new Promise(requestAnimationFrame);
                app.graph.setDirtyCanvas(true, true);
                await frame(); await frame();
                await app.extensionManager.command.execute('Comfy.Canvas.FitView');
            }"""
        )
        page.wait_for_timeout(1500)  # the fit is animated
        wait_until_sizes_settle(page)
        if not overlaps(serialized_graph(page), title_height):
            break
    return serialized_graph(page)


def overlaps(graph: dict, title_height: float) -> list[tuple[int, int]]:
    """Pairs of nodes whose boxes (title bar included) intersect."""
    boxes = [
        (n["id"], n["pos"][0], n["pos"][1] - title_height, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
        for n in graph["nodes"]
    ]
    return [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]


CORE_LOADERS = {  # class_type -> (its file input, the models folder it lists)
    "UNETLoader": ("unet_name", "diffusion_models"),
    "VAELoader": ("vae_name", "vae"),
    "CLIPLoader": ("clip_name", "text_encoders"),
}


def main(argv: list[str]) -> int:
    """`python tests/comfyui_host.py export workflows/api/NAME.json`: write the UI twin workflows/NAME.json."""
    if len(argv) != 2 or argv[0] != "export":
        print(main.__doc__, file=sys.stderr)
        return 2
    api_file = Path(argv[1]).resolve()
    comfy = comfyui_dir()
    if comfy is None:
        print("ComfyUI not found: set COMFYUI_DIR", file=sys.stderr)
        return 1
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        server = start_server(comfy, "link", Path(root))
        provide_sample_inputs(server)  # the loaders' file lists must hold the files the workflow names
        api = load_json(api_file)
        for item in api.values():  # core's model loaders too (workflows/core): empty files, listed, never read
            if item["class_type"] in CORE_LOADERS:
                key, folder = CORE_LOADERS[item["class_type"]]
                (Path(root) / "models" / folder / item["inputs"][key]).touch()
        try:
            with frontend(server) as (page, _):
                # A recaptioner whose prompt describes an input clip keeps its seed: the seed places the
                # objects in the caption, and the shipped one matches the clip.
                describes_input = any(node["class_type"] == "SoraLoadVideo" for node in api.values())
                graph = export_ui_workflow(
                    page,
                    api,
                    api_file.stem,
                    {"SoraSaveVideo": (320, 420)},
                    fixed_seeds=("SoraRecaptioner",) if describes_input else (),
                )
                bad = overlaps(graph, page.evaluate("() => LiteGraph.NODE_TITLE_HEIGHT"))
                if bad:
                    print(f"overlapping nodes: {bad}", file=sys.stderr)
                    print([(n["id"], n["pos"], n["size"]) for n in graph["nodes"]], file=sys.stderr)
                    return 1
                page.screenshot(path=str(artifacts_dir() / f"{api_file.stem}-layout.png"))
        finally:
            server.stop()
    target = ui_twin(api_file)
    target.write_text(json.dumps(graph, indent=2) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
