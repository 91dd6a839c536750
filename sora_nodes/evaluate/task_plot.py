"""The long-video chart: the object's colour drift and the frames' sharpness over time, one PNG."""

from __future__ import annotations

from pathlib import Path


def plot_long_video(segments: list[dict], color: str, world_sharpness: float, path: Path) -> Path:
    """segments: rows of tasks.segment_figures. A segment where the colour was not found has no drift point."""
    import matplotlib

    matplotlib.use("Agg")  # no display: this runs headless and in CI
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    times = [s["start_s"] for s in segments]
    fig, drift_axis = plt.subplots(figsize=(7, 3.8), dpi=100)
    drift = [float("nan") if s["color_drift"] is None else s["color_drift"] for s in segments]
    drift_axis.plot(times, drift, "o-", color="tab:red", label=f"{color} drift from palette")
    drift_axis.set_xlabel("segment start (s)")
    drift_axis.set_ylabel("colour drift (RGB distance)", color="tab:red")
    drift_axis.set_ylim(bottom=0)
    sharp_axis = drift_axis.twinx()
    sharp_axis.plot(times, [s["sharpness"] for s in segments], "s-", color="tab:blue", label="sharpness")
    sharp_axis.axhline(world_sharpness, color="tab:blue", linestyle=":", label="sharpness of the world's frames")
    sharp_axis.set_ylabel("sharpness (mean gradient, levels/px)", color="tab:blue")
    sharp_axis.set_ylim(bottom=0)
    lines = drift_axis.get_legend_handles_labels()[0] + sharp_axis.get_legend_handles_labels()[0]
    labels = drift_axis.get_legend_handles_labels()[1] + sharp_axis.get_legend_handles_labels()[1]
    drift_axis.legend(lines, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8)
    drift_axis.set_title(
        f"long video: {len(segments)} segments of {times[1] - times[0]:g} s" if len(times) > 1 else "long video"
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
