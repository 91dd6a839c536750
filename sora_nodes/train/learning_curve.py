"""Score a training run every few hundred steps on a small fixed prompt subset: the loss alone does
not say when shape or motion start to be learned, and a full `sora eval` costs minutes."""

from __future__ import annotations

import json
from pathlib import Path

from ..io.atomic import atomic_path

CURVE_FILE = "curve.json"
CURVE_PNG = "learning_curve.png"
SCORED = ("color", "shape", "motion")


def score_checkpoint(model_path: Path, n_prompts: int, *, device="cpu") -> dict:
    """colour / shape / motion / count accuracy of `n_prompts` of the quick eval's 24 held-out triples
    (docs/dit_experiments.md), spread evenly over the set; all 24 make the curve the quick eval's."""
    from ..evaluate.prompts import load_prompts, prompt_set_path
    from ..evaluate.run import evaluate

    prompts = load_prompts(prompt_set_path("quick_heldout"))
    subset = [prompts[i * len(prompts) // n_prompts] for i in range(min(n_prompts, len(prompts)))]
    report = evaluate(subset, "model", model_path=model_path, device=device)
    return {k: report["accuracy"][k] for k in (*SCORED, "count")}


def load_curve(out_dir: Path) -> list[dict]:
    path = out_dir / CURVE_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def record_point(out_dir: Path, step: int, loss: float, scores: dict) -> list[dict]:
    """Append (or replace) the point of `step` in out_dir/curve.json and redraw the PNG."""
    curve = [p for p in load_curve(out_dir) if p["step"] != step]
    curve = sorted([*curve, {"step": step, "loss": loss, **scores}], key=lambda p: p["step"])
    with atomic_path(out_dir / CURVE_FILE) as tmp:
        Path(tmp).write_text(json.dumps(curve, indent=1))
    plot_curves({"this run": curve}, out_dir / CURVE_PNG)
    return curve


def plot_curves(curves: dict[str, list[dict]], path: Path) -> Path:
    """Loss (left) and held-out-subset accuracy (right) against steps, one line style per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    styles = ["-", "--", ":", "-."]
    for i, (name, curve) in enumerate(curves.items()):
        steps = [p["step"] for p in curve]
        ax_loss.plot(steps, [p["loss"] for p in curve], styles[i % 4], marker="o", ms=3, label=name)
        for j, key in enumerate(SCORED):
            values = [100 * p[key] if p.get(key) is not None else None for p in curve]
            ax_acc.plot(steps, values, styles[i % 4], color=f"C{j}", marker="o", ms=3, label=f"{key} ({name})")
    ax_loss.set(xlabel="DiT step", ylabel="flow loss (mean of the last 50 steps)", yscale="log")
    ax_acc.set(xlabel="DiT step", ylabel="% right on the scoring subset", ylim=(-2, 102))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
