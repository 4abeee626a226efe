"""Derive the runtime copies of the model files: the only module that imports the onnx package.

Run as ``python -m edge.inference.derive ROLE SOURCE DEST`` by the loader, in its own process:
parsing a 39 MB protobuf in the daemon would leave ~100 MB of heap behind for the life of the
process (measured: a session built from patched bytes cost 161 MB of RSS, one from a file 48 MB).

- detector: YuNet declares a fixed 640x640 input although the graph is size-agnostic; the declared
  height and width become symbolic so frames run at their own (padded) size.
- embedder: SFace lists its weights as graph inputs, which blocks constant folding; dropping them
  from the inputs gives the same output and ~25% less time.

Beside the copy it writes a stamp (JSON): the copy's own sha256 and size, and the sha256 of the
original it was made from (hashed from the very bytes it parsed) and the role. The loader re-hashes
the copy against the stamp at every load; the child also prints the stamp, so the parent checks a
fresh copy against what the child wrote, not against a file anyone could have replaced meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import onnx

from edge.inference.manifest import write_derived


def relax_input_dims(model: onnx.ModelProto) -> None:
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = "H", "W"


def drop_initializer_inputs(model: onnx.ModelProto) -> None:
    weights = {init.name for init in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(keep)


def derive(role: str, source: Path, dest: Path) -> dict[str, object]:
    """Write the patched model to ``dest`` (atomically) and its stamp beside it; returns the stamp."""
    original = source.read_bytes()
    model = onnx.load_model_from_string(original)
    if role == "detector":
        relax_input_dims(model)
    drop_initializer_inputs(model)
    return write_derived(dest, model.SerializeToString(), role, hashlib.sha256(original).hexdigest())


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print("usage: python -m edge.inference.derive ROLE SOURCE DEST", file=sys.stderr)
        raise SystemExit(2)
    try:
        print(json.dumps(derive(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])), sort_keys=True))
    except Exception as exc:
        print(f"cannot derive {sys.argv[2]}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
