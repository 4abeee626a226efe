"""Simulated world around a gate device: camera, gallery service, departure control, fleet admin."""
