"""Sequence-parallel (Ulysses) and CFG-parallel sampling on gloo ranks against the single-process render.

Each launch starts real processes that join one torch.distributed world over gloo, render every case of
`parallel_cases.CASES` (text-to-video, image-to-video's condition mask, a tiny Wan DiT, a three-window long
video) under each mode, and compare on rank 0 with the same render in one process: within 1e-5 in fp32.
Every launch has a timeout, so a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import json

import pytest
from parallel_cases import CASES, launch_ranks

from sora_nodes.errors import ParallelError
from sora_nodes.parallel.collective import Collectives
from sora_nodes.parallel.layout import ParallelLayout, check_world
from sora_nodes.parallel.ulysses import Ulysses, theoretical_bytes_per_layer, working_sizes

TOLERANCE = 1e-5


def _run(tmp_path, world: int, modes: str, *extra: str) -> dict:
    out = tmp_path / f"report-{world}.json"
    results = launch_ranks(world, ["tests/parallel_cases.py", str(out), modes, *extra], timeout=240)
    if not extra:
        assert all(code == 0 for code, _ in results), [err[-2000:] for _, err in results]
    return json.loads(out.read_text())


@pytest.mark.parametrize("world,modes", [(2, "ulysses,cfg"), (4, "ulysses,cfg+ulysses")])
def test_parallel_render_matches_one_process(tmp_path, world, modes):
    report = _run(tmp_path, world, modes)
    for mode in modes.split(","):
        for case in CASES:
            assert report[mode][case] <= TOLERANCE, (world, mode, case, report[mode][case])
    assert report["ulysses"]["all_to_all_bytes"] > 0 and report[modes.split(",")[1]]["all_to_all_bytes"] >= 0
    if "cfg" in modes.split(","):
        assert report["cfg"]["all_to_all_bytes"] == 0  # cfg alone moves only the two halves' outputs


def test_a_rank_that_dies_mid_render_ends_the_others_with_one_line(tmp_path):
    report = _run(tmp_path, 2, "ulysses", "die")
    message = report["ulysses"]
    assert "another rank stopped" in message and "\n" not in message


def test_layout_groups():
    layout = ParallelLayout("cfg+ulysses", 4, 3)
    assert (layout.cfg_degree, layout.ulysses_degree, layout.cfg_index, layout.ulysses_index) == (2, 2, 1, 1)
    assert layout.ulysses_groups() == [[0, 1], [2, 3]] and layout.cfg_groups() == [[0, 2], [1, 3]]
    assert ParallelLayout("ulysses", 4, 2).ulysses_groups() == [[0, 1, 2, 3]]


@pytest.mark.parametrize(
    "mode,world,fragment",
    [
        ("cfg", 3, "exactly 2 ranks"),
        ("cfg+ulysses", 2, "at least 4"),
        ("ulysses", 1, "at least 2"),
        ("ring", 2, "unknown"),
    ],
)
def test_bad_world_sizes_are_one_line_naming_what_works(mode, world, fragment):
    with pytest.raises(ParallelError, match=fragment) as e:
        check_world(mode, world)
    assert "\n" not in str(e.value)


def test_heads_or_tokens_that_do_not_divide_name_the_sizes_that_work():
    ulysses = Ulysses(Collectives(), None, 3, 0)
    with pytest.raises(ParallelError, match=r"4 heads; use --nproc-per-node \(ulysses degree\) 1, 2, 4"):
        ulysses.check(4, 24)
    ulysses = Ulysses(Collectives(), None, 4, 0)
    with pytest.raises(ParallelError, match="this video is 18 tokens; use a ulysses degree of 1, 2"):
        ulysses.check(8, 18)
    assert working_sizes(12, 40) == [1, 2, 4]


def test_theoretical_volume():
    assert theoretical_bytes_per_layer(1, 1024, 64, 2, 4) == 4 * 1024 * 64 * 0.5 * 4


def test_the_bench_theory_counts_every_ulysses_group_and_the_batch_each_runs():
    from sora_nodes.bench.parallel import parse_args, theory_bytes_per_step

    args = parse_args(["--latent", "5x16x16", "--hidden", "256", "--depth", "4"])  # 320 tokens
    per_layer = 4 * 320 * 256 * 0.5 * 4  # 4*N*D*(P-1)/P fp32 elements at batch 1
    assert theory_bytes_per_step(args, cfg=1, ulysses=2) == 4 * 2 * per_layer  # guidance batches 2
    assert theory_bytes_per_step(args, cfg=2, ulysses=2) == 2 * 4 * per_layer  # two groups of batch 1
    assert theory_bytes_per_step(args, cfg=2, ulysses=1) == 0
