"""A user's session in the real ComfyUI frontend (headless Chromium): open the shipped workflow, press Run,
watch the video play in the SoraSaveVideo node.

Skips without ComfyUI (tests/comfyui_host.py), Playwright or Chromium; fails with the browser's console log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from comfyui_host import PACK_DIR_NAME, ComfyServer, artifacts_dir, frontend, overlaps, require_browser, shared_server

WORKFLOW = Path(__file__).resolve().parent.parent / "workflows" / "text_to_video.json"
TIMEOUT_MS = 300_000  # a cold render loads the model and MiniLM first
TITLE_HEIGHT = 30  # LiteGraph.NODE_TITLE_HEIGHT: a node's title bar is drawn above its pos

# The <video> inside the SoraSaveVideo node and how it is doing; null until there is one.
VIDEO_STATE = """() => {
    const node = app.graph._nodes.find(n => n.type === 'SoraSaveVideo');
    const v = node?.videoContainer?.querySelector('video');
    return v ? {src: v.currentSrc || v.src, readyState: v.readyState, paused: v.paused, time: v.currentTime,
                width: v.videoWidth, height: v.videoHeight} : null;
}"""
SAVE_NODE_VIDEO = "video"  # the only <video> on a fresh canvas is the one the SoraSaveVideo node adds
# A point of the page where the bare canvas is on top: no node, group or frontend overlay (menus, tab bar) there.
EMPTY_CANVAS_POINT = """() => {
    const canvas = document.querySelector('canvas#graph-canvas');
    const r = canvas.getBoundingClientRect();
    for (let fy = 0.1; fy < 0.95; fy += 0.05) for (let fx = 0.1; fx < 0.95; fx += 0.05) {
        const [x, y] = [r.left + r.width * fx, r.top + r.height * fy];
        if (document.elementFromPoint(x, y) !== canvas) continue;
        const [gx, gy] = app.canvas.ds.convertCanvasToOffset([x - r.left, y - r.top]);  // graph units
        const near = [[0, 0], [-40, 0], [40, 0], [0, -40], [0, 40]].map(([dx, dy]) => [gx + dx, gy + dy]);
        if (near.some(([px, py]) => app.graph.getNodeOnPos(px, py) || app.graph.getGroupOnPos?.(px, py))) continue;
        return {x: x - r.left, y: y - r.top};
    }
    return null;
}"""


@pytest.fixture(scope="session")
def server(request) -> ComfyServer:
    require_browser()
    return shared_server(request, "link", "browser")  # its own: the render must not be a cached replay


def test_user_loads_the_workflow_runs_it_and_the_video_plays(server):
    if not WORKFLOW.is_file():
        pytest.fail(f"{WORKFLOW} is missing: the pack ships its example in UI format")
    graph = json.loads(WORKFLOW.read_text())
    with frontend(server) as (page, console):
        try:
            # What a user does: Workflow > Open picks a file through this input.
            page.set_input_files("#comfy-file-input", str(WORKFLOW))
            page.wait_for_function(
                "n => app.graph._nodes.length === n && app.graph._nodes.some(x => x.type === 'SoraSaveVideo')",
                arg=len(graph["nodes"]),
            )
            page.wait_for_timeout(500)
            schema_alerts = page.get_by_text("Invalid workflow").all_inner_texts()
            page.get_by_role("button", name="Run", exact=True).click()
            page.wait_for_function(
                f"() => {{ const s = ({VIDEO_STATE})(); return s && s.readyState >= 2; }}", timeout=TIMEOUT_MS
            )
            loaded = page.evaluate(VIDEO_STATE)
            # The frontend shows the video with controls but no autoplay: the user brings it into view
            # ("." fits the graph) and clicks it.
            # It clicks on empty canvas first, so the canvas has focus and nothing is selected: "." fits all nodes.
            empty = page.evaluate(EMPTY_CANVAS_POINT)
            assert empty, "no empty canvas point to click: nodes or overlays cover the whole canvas"
            page.locator("canvas#graph-canvas").click(position=empty)
            page.keyboard.press(".")
            page.wait_for_timeout(1000)
            page.locator(SAVE_NODE_VIDEO).click()
            page.wait_for_function(
                f"() => {{ const s = ({VIDEO_STATE})(); return s && !s.paused && s.time > 0; }}", timeout=30_000
            )
            playing = page.evaluate(VIDEO_STATE)
            page.screenshot(path=str(artifacts_dir() / "browser-text_to_video.png"))
        except Exception as error:
            artifacts = artifacts_dir()
            page.screenshot(path=str(artifacts / "browser-text_to_video-failed.png"))
            pytest.fail(f"{type(error).__name__}: {error}\n--- browser console ---\n" + "\n".join(console[-80:]))
    history = server.get("/history", max_items=1).json()
    (entry,) = history.values()
    assert entry["status"]["status_str"] == "success", entry["status"]
    cached = [m[1]["nodes"] for m in entry["status"]["messages"] if m[0] == "execution_cached"]
    sampler = next(str(n["id"]) for n in graph["nodes"] if n["type"] == "SoraSampler")
    assert sampler not in sum(cached, []), f"the sampler did not run, ComfyUI replayed a cached result: {cached}"
    saved = [o for o in entry["outputs"].values() if o.get("animated") == [True]]
    assert saved, entry["outputs"]
    filename = saved[0]["images"][0]["filename"]
    assert filename in loaded["src"], f"the node's <video> shows {loaded['src']}, not the saved {filename}"
    assert (loaded["width"], loaded["height"]) == (64, 64)
    assert playing["readyState"] >= 2 and not playing["paused"] and playing["time"] > 0, playing
    assert not schema_alerts, f"the frontend flagged {WORKFLOW.name} on opening: {schema_alerts}"


# The card of a template shows a loaded picture (the frontend fetches it into a blob: URL when the card
# scrolls into view, and names the <img> after the template).
THUMBNAIL_SHOWN = """(name) => [...document.querySelectorAll('img')]
    .some(img => img.alt === name && img.complete && img.naturalWidth > 0)"""
# Scrolls the card of a template into view: its <img> stays hidden until its picture has loaded, so the
# nearest shown ancestor (the card) is what scrolls. 1.58 makes a card's <img> only once the card is near
# the view, so a card without one is found by its title.
SCROLL_TO_CARD = """(name) => {
    let card = document.querySelector(`img[alt="${name}"]`)
        || [...document.querySelectorAll('body *')].find(e => !e.children.length && e.textContent.trim() === name);
    while (card && card.offsetParent === null) card = card.parentElement;
    card?.scrollIntoView({block: 'center'});
    return Boolean(card);
}"""
LATE_LOAD_MS = 5000  # the frontend's first load goes on making requests (settings, templates, queue) this long


def load_problems(server: ComfyServer) -> set[str]:
    """Page errors and failed HTTP requests while the frontend opens, the server's address left out."""
    with frontend(server) as (page, console):
        page.wait_for_timeout(LATE_LOAD_MS)
        return {line.replace(server.url, "") for line in console if line.startswith(("[pageerror]", "[http "))}


def test_the_pack_adds_no_page_error_or_failed_request_when_the_frontend_opens(server, request):
    """ComfyUI without the pack is the baseline: the frontend's own errors (one in 1.27.10's settings code, 404s
    for user.css and unsaved user data) are there either way; the pack may add none."""
    bare = load_problems(shared_server(request, "bare"))
    added = load_problems(server) - bare
    assert not added, f"with the pack loaded the frontend also reports: {sorted(added)} (without it: {sorted(bare)})"


def test_the_template_browser_shows_every_shipped_workflow_with_its_thumbnail(server):
    names = sorted(path.stem for path in WORKFLOW.parent.glob("*.json"))
    with frontend(server) as (page, console):
        waiting_for = "the template browser"
        try:
            page.evaluate("() => app.extensionManager.command.execute('Comfy.BrowseTemplates')")
            page.get_by_text(PACK_DIR_NAME, exact=True).first.click()  # the pack's category, under Custom Nodes
            for name in names:  # as a user scrolls down the cards
                # 1.58 draws the cards' frames first and their <img> a moment later: both are waited for
                waiting_for = f"the card of {name} in the pack's templates"
                page.wait_for_function(SCROLL_TO_CARD, arg=name, timeout=30_000)
                waiting_for = f"the thumbnail of {name}"
                page.wait_for_function(THUMBNAIL_SHOWN, arg=name, timeout=30_000)
            page.screenshot(path=str(artifacts_dir() / "browser-templates.png"))
        except Exception as error:
            page.screenshot(path=str(artifacts_dir() / "browser-templates-failed.png"))
            pytest.fail(
                f"waiting for {waiting_for}: {type(error).__name__}: {error}\n--- browser console ---\n"
                + "\n".join(console[-80:])
            )
    ours = f"/workflow_templates/{PACK_DIR_NAME}/"
    assert not [line for line in console if line.startswith("[http ") and ours in line], console


@pytest.mark.parametrize("path", sorted(WORKFLOW.parent.glob("*.json")), ids=lambda p: p.stem)  # core_ ones too
def test_shipped_ui_workflow_reads_left_to_right(path):
    """No node hides another, and every link runs from left to right, as the export lays them out."""
    graph = json.loads(path.read_text())
    assert not overlaps(graph, TITLE_HEIGHT), f"{path.name}: overlapping nodes {overlaps(graph, TITLE_HEIGHT)}"
    nodes = {n["id"]: n for n in graph["nodes"]}
    for link_id, source, _, target, _, _ in graph["links"]:
        right_edge = nodes[source]["pos"][0] + nodes[source]["size"][0]
        assert right_edge < nodes[target]["pos"][0], f"{path.name}: link {link_id} runs right to left"


def test_dropping_a_rendered_mp4_restores_its_graph(server, tmp_path):
    """An MP4 written by `sora run` from the UI workflow opens in the frontend as that graph, edits included."""
    import subprocess
    import sys

    prompt = "a green triangle bouncing, restored from the mp4"
    subprocess.run(
        [sys.executable, "-m", "sora_nodes.cli", "run", str(WORKFLOW), "-q", "-o", str(tmp_path),
         "--set", f"2.prompt={prompt}", "--set", "6.steps=2"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (video,) = tmp_path.rglob("*.mp4")
    with frontend(server) as (page, console):
        try:
            page.evaluate("() => app.graph.clear()")
            page.set_input_files("#comfy-file-input", str(video))
            page.wait_for_function("() => app.graph._nodes.some(n => n.type === 'SoraSaveVideo')", timeout=30_000)
            restored = page.evaluate(
                """() => Object.fromEntries(app.graph._nodes.map(n => [n.id,
                       {type: n.type, widgets: Object.fromEntries((n.widgets || []).map(w => [w.name, w.value]))}]))"""
            )
        except Exception as error:
            pytest.fail(f"{type(error).__name__}: {error}\n--- browser console ---\n" + "\n".join(console[-80:]))
    graph = json.loads(WORKFLOW.read_text())
    assert {str(n["id"]): n["type"] for n in graph["nodes"]} == {k: v["type"] for k, v in restored.items()}
    assert restored["2"]["widgets"]["prompt"] == prompt
    assert restored["6"]["widgets"]["steps"] == 2


def test_a_rejected_prompt_shows_its_category_in_the_ui_and_saves_nothing(server):
    before = {p for p in server.output.rglob("*") if p.is_file()}
    with frontend(server) as (page, console):
        try:
            page.set_input_files("#comfy-file-input", str(WORKFLOW))
            page.wait_for_function("() => app.graph._nodes.some(x => x.type === 'SoraPromptSafety')")
            # The user zooms in on the "Prompt" node (text boxes hide when zoomed out) and types into it.
            page.evaluate(
                """() => { const n = app.graph._nodes.find(x => x.type === 'SoraPromptSafety');
                           app.canvas.ds.scale = 1; app.canvas.ds.offset = [100 - n.pos[0], 150 - n.pos[1]];
                           app.graph.setDirtyCanvas(true, true); }"""
            )
            page.wait_for_timeout(500)
            boxes = page.locator("textarea")
            values = boxes.evaluate_all("all => all.map(t => t.value)")
            boxes.nth(values.index("a red circle moving left")).fill("a red circle next to a n.u.d.e woman")
            page.get_by_role("button", name="Run", exact=True).click()
            shown = page.get_by_text("category sexual").filter(visible=True).first
            # Older frontends (1.27) open a dialog with the error; newer ones (1.58) toast "Prompt failed"
            # with a "View details" button that shows it in the side panel.
            details = page.get_by_role("button", name="View details").filter(visible=True).first
            shown.or_(details).first.wait_for(timeout=TIMEOUT_MS)
            if not shown.is_visible():
                details.click()
                shown.wait_for(timeout=30_000)
            # What the user reads there: the dialog around the message, else the smallest part of the page
            # that also names the node.
            dialog = shown.evaluate(
                """e => { let p = e.closest('[role=dialog]') || e;
                          while (p.parentElement && !p.innerText.includes('SoraPromptSafety')) p = p.parentElement;
                          return p.innerText; }"""
            )
            page.screenshot(path=str(artifacts_dir() / "browser-rejected-prompt.png"))
        except Exception as error:
            page.screenshot(path=str(artifacts_dir() / "browser-rejected-prompt-failed.png"))
            pytest.fail(f"{type(error).__name__}: {error}\n--- browser console ---\n" + "\n".join(console[-80:]))
    assert "SoraPromptSafety" in dialog and "rewrite the prompt" in dialog, dialog
    history = server.get("/history", max_items=1).json()
    (entry,) = history.values()
    assert entry["status"]["status_str"] == "error", entry["status"]
    assert {p for p in server.output.rglob("*") if p.is_file()} == before, "a rejected prompt wrote files"
