"""Inference adapters: model files (manifest, fetch, verify) and onnxruntime sessions.

onnxruntime's official builds start Microsoft's telemetry (1DS) when the library is imported: a
persistent device id and an event database under ``$HOME/.cache`` (the state directory on a gate)
and an uploader to a Microsoft host. A gate sends nothing to anyone but its broker, so it is turned
off here, in the package every onnxruntime import goes through (:mod:`edge.inference.onnx_runtime`):
only ``ORT_DISABLE_TELEMETRY=1`` set before the import prevents the device id and the uploader
(``disable_telemetry_events()``, called after the import as well, comes too late for those).
Child processes (the model deriver) inherit it.
"""

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"
