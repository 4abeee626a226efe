"""int8 SFace: static quantisation of the embedder with onnxruntime's quantisation tools.

The only module that imports ``onnxruntime.quantization`` (it needs the ``onnx`` package: the
``quantise`` extra). Run by `gate-edge models quantise`, on a workstation or on the gate, once:

- the source is the embedder's verified runtime copy (:mod:`edge.inference.derive`);
- BatchNormalization is folded and shapes inferred (``quant_pre_process``), then convolutions and the
  fully connected layer are quantised statically (QOperator format, int8 weights per channel, uint8
  activations), their activation ranges calibrated (min-max) on aligned face crops the caller hands
  in. The crops stay in memory; the calibrator writes only models to its temporary folder;
- beside the int8 copy a stamp records its sha256 and size, the original's sha256 and the role
  ``embedder-int8``; the loader re-hashes the copy against it at every load, as for derived copies.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge.inference.manifest import write_derived
from edge.inference.onnx_runtime import INT8_ROLE


class _Blobs(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, input_name: str, blobs: Sequence[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(blobs)
        self._name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._it, None)
        return None if blob is None else {self._name: blob}


def quantise(runtime_copy: Path, source_sha256: str, dest: Path, input_name: str,
             blobs: Sequence[np.ndarray]) -> dict[str, object]:
    """Write the int8 model to ``dest`` (atomically) and its stamp; returns the stamp."""
    if not blobs:
        raise ValueError("no calibration crops: give a faces folder with readable face photos")
    with tempfile.TemporaryDirectory(prefix="gate-edge-quantise-") as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(runtime_copy), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), _Blobs(input_name, blobs), quant_format=QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        data = out.read_bytes()
    return write_derived(dest, data, INT8_ROLE, source_sha256, calibration_crops=len(blobs))
