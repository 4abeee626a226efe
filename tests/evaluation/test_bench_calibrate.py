"""`gate-edge bench --quick` and `gate-edge calibrate` run end to end and report every field.

No timing assertions: the figures are printed for people, the machine here is shared and noisy.
"""

from __future__ import annotations

from pathlib import Path

from edge.commands import bench, calibrate
from edge.evaluation.calibrate import MARGINS


def test_bench_quick_prints_every_field(run_json, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rep = run_json(bench, ["--quick", "--faces", str(faces_dir)])
    assert rep["frame_size"] == [1280, 720]
    assert rep["frames_measured"] == rep["frames"] * rep["rounds"] > 0
    # With fused decisions one frame of a stranger is not yet a decision; what the timings must cover is
    # the whole path: a traveller found, embedded and searched.
    assert 0 < rep["frames_searched"] <= rep["frames_measured"]
    assert 0 <= rep["frames_decided"] <= rep["frames_searched"]
    for stage in ("detect", "align", "embed", "search", "decide"):
        assert rep["stages_ms"][stage]["p50"] > 0
        assert rep["stages_ms"][stage]["p95"] >= rep["stages_ms"][stage]["p50"]
    e2e = rep["end_to_end_ms"]
    assert 0 < e2e["p50"] <= e2e["p95"] <= e2e["p99"]
    assert rep["opencv"]["end_to_end_ms"]["p50"] > 0
    assert rep["ratio_vs_opencv"] > 0
    assert set(rep["ratio_vs_opencv_stages"]) == {"detect", "align", "embed"}
    kinds = {(r["entries"], r["index"]) for r in rep["search"]}
    assert (500, "exact") in kinds and any(k == "hnsw" for _, k in kinds)
    for r in rep["search"]:
        assert 0.0 <= r["recall_at_1"] <= 1.0 and r["search_ms"]["p50"] > 0
    assert next(r for r in rep["search"] if r["index"] == "exact")["recall_at_1"] == 1.0
    assert rep["peak_rss_mb"] > 0
    assert set(rep["goals"]) == {"end_to_end_p95_le_100ms", "ratio_vs_opencv_le_1", "ratio_vs_opencv_le_0.8",
                                 "large_search_p50_le_1ms", "recall_at_1_ge_0.99", "peak_rss_le_400mb"}
    # Every accuracy option timed in the same loop as OpenCV: with and without each.
    variants = rep["options"]["variants"]
    assert {"none", "default", "refine", "flip_tta", "all", "opencv"} <= set(variants)
    assert "int8" in variants or "int8" in rep["options"]["notes"]
    for name, row in variants.items():
        assert 0 < row["end_to_end_ms"]["p50"] <= row["end_to_end_ms"]["p95"]
        assert name == "opencv" or row["ratio_vs_opencv"] > 0
    assert "enlarge" in rep["options"]["notes"]


def test_calibrate_on_faces_proposes_a_threshold_that_separates_them(run_json, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rep = run_json(calibrate, ["--faces", str(faces_dir)])
    prop = rep["proposal"]
    folder = rep["folders"][0]
    # The proposal sits above every unmated search (fewer than 1/0.003 of them: none may pass)
    # and below enough genuine scores to keep FNIR at the target.
    assert prop["threshold"] > folder["scores"]["nonmated_top"]["max"]
    assert prop["per_folder"][0]["fpir"] == 0.0 and prop["per_folder"][0]["unmated_fpir"] == 0.0
    assert prop["per_folder"][0]["fnir"] <= 0.05
    assert prop["margin"] in MARGINS


def test_calibrate_rejects_a_bad_target(cli_args, faces_dir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert calibrate.run(cli_args(calibrate, ["--faces", str(faces_dir), "--target-fpir", "1.5"])) == 2
    assert "target-fpir" in capsys.readouterr().err
