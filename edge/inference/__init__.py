"""Inference adapters: model files (manifest, fetch, verify) and onnxruntime sessions."""
