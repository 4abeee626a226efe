"""`gate-edge bench`: per-stage and end-to-end latency against OpenCV's own, search, memory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.evaluation.bench import bench
from edge.evaluation.data import DatasetError
from edge.evaluation.setup import add_model_arguments
from edge.inference.manifest import ModelError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--faces", type=Path, default=None, help="photos to compose frames from "
                        "(default: $GATE_EDGE_FACES or ../shared/faces)")
    parser.add_argument("--quick", action="store_true", help="few frames, small galleries: a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="passes over the frames (default 6, quick 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-options", dest="options", action="store_false",
                        help="skip timing each accuracy option (refine, flip TTA, int8) against the default")
    add_model_arguments(parser)




def _human(rep: dict[str, Any]) -> str:
    lines = [f"{rep['frames']} frames {rep['frame_size'][0]}x{rep['frame_size'][1]} x {rep['rounds']} rounds, "
             f"detection at width {rep['detect_input_width']}, {rep['threads']} thread(s)"]
    for k, v in rep["stages_ms"].items():
        cv = rep["opencv"]["stages_ms"].get(k)
        lines.append(f"  {k:<7} ours p50 {v['p50']} p95 {v['p95']}" + (f"   opencv p50 {cv['p50']}" if cv else ""))
    e, c = rep["end_to_end_ms"], rep["opencv"]["end_to_end_ms"]
    lines.append(f"end to end ours p50 {e['p50']} p95 {e['p95']} p99 {e['p99']} | opencv p50 {c['p50']} "
                 f"p95 {c['p95']} | ratio {rep['ratio_vs_opencv']}")
    for r in rep["search"]:
        lines.append(f"search {r['entries']:>6} {r['index']:<5} p50 {r['search_ms']['p50']} ms "
                     f"recall@1 {r['recall_at_1']}")
    if rep.get("options"):
        for name, row in rep["options"]["variants"].items():
            e = row["end_to_end_ms"]
            extra = (f" ratio_vs_opencv {row['ratio_vs_opencv']} p95 x{row['p95_vs_none']} of none"
                     if "ratio_vs_opencv" in row else "")
            lines.append(f"option {name:<9} p50 {e['p50']} p95 {e['p95']}{extra}")
        for name, note in rep["options"]["notes"].items():
            lines.append(f"option {name:<9} {note}")
    lines.append(f"peak RSS {rep['peak_rss_mb']} MB")
    lines.append("goals: " + ", ".join(f"{k}={'ok' if v else 'MISSED'}" for k, v in rep["goals"].items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        rep = bench(args)
    except (DatasetError, ModelError) as exc:
        print(f"gate-edge bench: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(rep) if args.json else _human(rep))
    return 0


