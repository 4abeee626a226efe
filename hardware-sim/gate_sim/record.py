"""Write a scenario's feed to a real encoded video, for the file/RTSP backend to replay.

    python -m gate_sim.record SCENARIO OUT.avi [--faces DIR] [--seed N] [--max-frames N]

``.avi`` is written as MJPG, ``.mp4`` as mp4v (the codecs pip's OpenCV can write). Prints one JSON
line with what was written. The video holds faces: keep it out of the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from edge.camera.base import CameraError, EndOfStream
from gate_sim.camera import SimulatedCameraDevice
from gate_sim.scenario import ScenarioError, load_scenario

CODECS = {".avi": "MJPG", ".mp4": "mp4v"}


def record(
    scenario_path: Path,
    out: Path,
    faces_dir: Path | None = None,
    seed: int | None = None,
    max_frames: int | None = None,
) -> dict[str, object]:
    """Render the scenario (as fast as possible, no loop) into ``out``; return a summary."""
    codec = CODECS.get(out.suffix.lower())
    if codec is None:
        raise ValueError(f"{out}: use one of {', '.join(CODECS)}")
    scenario = load_scenario(scenario_path, faces_dir=faces_dir, seed=seed)
    cam = scenario.camera
    device = SimulatedCameraDevice(scenario, realtime=False, loop=False)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*codec), cam.fps, (cam.width, cam.height))
    if not writer.isOpened():
        raise OSError(f"{out}: OpenCV cannot write {codec} video here")
    frames = 0
    device.open()
    try:
        while max_frames is None or frames < max_frames:
            try:
                image = device.read()
            except EndOfStream:
                break
            writer.write(image)
            image.fill(0)
            frames += 1
    finally:
        device.close()
        writer.release()
    return {
        "path": str(out),
        "frames": frames,
        "fps": cam.fps,
        "width": cam.width,
        "height": cam.height,
        "codec": codec,
        "walkups": len(scenario.truth()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gate_sim.record", description=__doc__.split("\n")[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--faces", type=Path, default=None,
                        help="faces folder (overrides $GATE_EDGE_FACES and the scenario's own)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-frames", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        summary = record(args.scenario, args.out, args.faces, args.seed, args.max_frames)
    except (ScenarioError, CameraError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
