"""gate-edge: boarding-gate face matching on the edge device."""

__version__ = "0.1.0"
