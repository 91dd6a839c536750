"""Graphs of the pack's nodes, as ComfyUI stores them: the workflow formats (schemas, UI->API conversion,
validation, `--set` overrides), the host the nodes run under (`HeadlessHost` here, ComfyUI's in `comfy/`),
the headless runner, the prompt guard of `sora run`, and the graph templates `sora render` builds."""
