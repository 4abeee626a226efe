"""`gate-edge eval` on the real photos and on a crafted folder of bad inputs (real models throughout)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.commands import eval as evaluate_cmd
from edge.config.schema import DecisionConfig
from edge.evaluation import evaluate
from edge.evaluation.data import build_protocol, list_identities
from edge.evaluation.setup import decision_params, make_analyser

REQUIRED = ("identities_enrolled", "genuine_probes", "impostor_probes", "fnir", "fpir", "failures_to_acquire",
            "failures_to_enrol", "threshold", "latency_ms", "fnir_at_fpir_0.003")


def test_eval_on_shared_faces_meets_targets(run_json, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rep = run_json(evaluate_cmd, ["--faces", str(faces_dir)])
    for key in REQUIRED:
        assert key in rep
    ids = list_identities(faces_dir)
    assert rep["identities_enrolled"] == sum(1 for p in ids.values() if len(p) >= 2)
    assert rep["genuine_probes"] == sum(len(p) - 1 for p in ids.values() if len(p) >= 2)
    assert rep["impostor_probes"] == sum(1 for p in ids.values() if len(p) == 1)
    assert rep["threshold"] == DecisionConfig().threshold
    # The default threshold separates the shared faces completely: every traveller matched, nobody else.
    assert rep["fnir"] == 0.0
    assert rep["fpir"] == 0.0
    assert rep["failures_to_enrol"] == 0
    ivals = rep["intervals"]
    assert ivals["fnir"][0] == 0.0 and ivals["fpir"][0] == 0.0
    assert ivals["fpir"][1] == round(1 - 0.025 ** (1 / rep["impostor_probes"]), 4)  # 0 of n, exact
    assert "warning" in ivals  # a handful of impostors cannot resolve FPIR 0.003, and the report says so
    assert set(rep["latency_ms"]) >= {"p50", "p95", "max"}
    assert rep["latency_ms"]["p50"] <= rep["latency_ms"]["p95"] <= rep["latency_ms"]["max"]
    assert set(rep["fnir_at_fpir_0.003"]) >= {"fnir", "threshold"}


def _side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = 400
    a = cv2.resize(a, (round(a.shape[1] * h / a.shape[0]), h))
    b = cv2.resize(b, (round(b.shape[1] * h / b.shape[0]), h))
    return np.hstack([a, b])


def _tiny(photo: np.ndarray) -> np.ndarray:
    canvas = np.full((480, 640, 3), 128, np.uint8)
    small = cv2.resize(photo, (24, round(24 * photo.shape[0] / photo.shape[1])), interpolation=cv2.INTER_AREA)
    canvas[200:200 + small.shape[0], 300:324] = small
    return canvas


@pytest.fixture
def crafted(tmp_path: Path, faces_dir: Path) -> Path:
    src = list_identities(faces_dir)
    deep = [k for k in src if k.startswith("deepface")]
    root = tmp_path / "crafted"
    (root / "alice").mkdir(parents=True)  # a clean identity: enrolled and matched
    shutil.copy(src[deep[0]][0], root / "alice" / "a.jpg")
    shutil.copy(src[deep[0]][1], root / "alice" / "b.jpg")
    (root / "bob").mkdir()  # gallery photo unreadable: failure to enrol, his probe is a miss
    (root / "bob" / "a.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    shutil.copy(src[deep[1]][1], root / "bob" / "b.jpg")
    (root / "carol").mkdir()  # probes that cannot be acquired
    shutil.copy(src[deep[2]][0], root / "carol" / "a.jpg")
    grey = np.tile(np.linspace(60, 200, 320, dtype=np.uint8), (240, 1))
    cv2.imwrite(str(root / "carol" / "b_noface.png"), cv2.merge([grey, grey, grey]))
    cv2.imwrite(str(root / "carol" / "c_tiny.png"), _tiny(cv2.imread(str(src[deep[2]][1]))))
    (root / "carol" / "d_broken.jpg").write_bytes(b"")
    (root / "dave").mkdir()  # an impostor photo with two faces
    two = _side_by_side(cv2.imread(str(src[deep[3]][0])), cv2.imread(str(src[deep[4]][0])))
    cv2.imwrite(str(root / "dave" / "two.png"), two)
    (root / "README.md").write_text("ignored")
    (root / "erin").mkdir()
    (root / "erin" / "notes.txt").write_text("no photo here: not an identity")
    return root


def test_crafted_folder_counts_failures_and_does_not_crash(run_json, crafted: Path) -> None:  # type: ignore[no-untyped-def]
    rep = run_json(evaluate_cmd, ["--faces", str(crafted)])
    assert rep["identities_enrolled"] == 2  # alice, carol
    assert rep["failures_to_enrol"] == 1
    assert rep["failures"]["enrol"] == [{"file": "bob/a.jpg", "reason": "unreadable"}]
    assert rep["genuine_probes"] == 5 and rep["impostor_probes"] == 1
    acquire = {f["file"]: f["reason"] for f in rep["failures"]["acquire"]}
    assert acquire["carol/b_noface.png"] == "no_face"
    assert acquire["carol/d_broken.jpg"] == "unreadable"
    assert acquire["carol/c_tiny.png"] == "no_face" or "too_small" in acquire["carol/c_tiny.png"]
    assert rep["failures_to_acquire"] == len(acquire) == 3
    assert rep["probes_with_several_faces"] >= 1  # dave's photo
    # alice matched; bob (not enrolled) and carol's three unusable probes are misses.
    assert rep["outcomes"]["genuine"].get("match", 0) == 1
    assert rep["fnir"] == pytest.approx(4 / 5)
    assert rep["fpir"] == 0.0


def test_eval_reports_bad_folders_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_args) -> None:  # type: ignore[no-untyped-def]
    assert evaluate_cmd.run(cli_args(evaluate_cmd, ["--faces", str(tmp_path / "missing")])) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "a.jpg").write_bytes(b"")
    assert evaluate_cmd.run(cli_args(evaluate_cmd, ["--faces", str(tmp_path)])) == 2
    assert "two or more photos" in capsys.readouterr().err


def test_probe_buffers_are_zeroed(face_models, faces_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[np.ndarray] = []
    real = evaluate.read_image

    def spy(path, scratch):  # type: ignore[no-untyped-def]
        img = real(path, scratch)
        if img is not None:
            seen.append(img)
        return img

    monkeypatch.setattr(evaluate, "read_image", spy)
    protocol = build_protocol(faces_dir, gallery_size=1, impostors=1, probes_per_identity=1)
    run = evaluate.run_protocol(make_analyser(face_models), protocol, decision_params())
    assert len(run.results) == 2 and len(seen) == 3
    assert all(not img.any() for img in seen)  # decoded photos are zero after use


def test_genuine_pairs_match_and_impostors_do_not(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Each probe photo against each enrolled photo: its own identity scores >= the default threshold,
    every other enrolled identity scores below it, and impostor photos score below it against all."""
    from edge.core.wipe import wiped
    from edge.evaluation.data import read_image

    analyser = make_analyser(face_models)

    def template(path: Path) -> np.ndarray:
        with wiped() as scratch:
            image = read_image(path, scratch)
            assert image is not None, path
            got = analyser.enrol(image, scratch)
            assert got.template is not None, path
            return got.template.copy()

    protocol = build_protocol(faces_dir)
    gallery_ids = [i for i, _ in protocol.enrol]
    gallery = np.stack([template(p) for _, p in protocol.enrol])
    threshold = DecisionConfig().threshold
    genuine = impostor = 0
    for probe in protocol.probes:
        scores = gallery @ template(probe.path)
        own = np.array([i == probe.identity for i in gallery_ids])
        if probe.genuine:
            assert scores[own].min() >= threshold, probe.path
            genuine += 1
        assert (scores[~own] < threshold).all(), probe.path
        impostor += int(not probe.genuine)
        scores.fill(0)
    gallery.fill(0)
    assert genuine > 0 and impostor > 0


def test_several_flights_average_and_draw_a_det_plot(run_json, faces_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plot = tmp_path / "det.png"
    rep = run_json(evaluate_cmd, ["--faces", str(faces_dir), "--gallery-size", "6", "--impostors", "4",
                                  "--seeds", "1,2", "--det-plot", str(plot)])
    assert rep["seeds"] == [1, 2]
    assert [r["seed"] for r in rep["per_seed"]] == [1, 2]
    for key in ("fnir", "fpir", "rank1_identification_rate", "fnir_at_fpir_0.003"):
        per = rep["mean"][key]["per_seed"]
        assert len(per) == 2 and rep["mean"][key]["mean"] == pytest.approx(sum(per) / 2, abs=1e-4)
    assert rep["mean"]["fnir"]["per_seed"] == [r["fnir"] for r in rep["per_seed"]]
    assert rep["warnings"]  # 4 impostors per flight
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imread(str(plot))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 200


def test_bad_seeds_are_a_clear_error(faces_dir: Path, capsys: pytest.CaptureFixture[str], cli_args) -> None:  # type: ignore[no-untyped-def]
    for bad in ("1,x", "1,1", ","):
        assert evaluate_cmd.run(cli_args(evaluate_cmd, ["--faces", str(faces_dir), "--seeds", bad])) == 2
        assert "--seeds" in capsys.readouterr().err
