"""A flight gallery as received, before it is embedded: pure data with a wipe.

Produced by the messaging layer (chunks assembled, base64 decoded once into these buffers) and
consumed by the gallery loader, which embeds photos, builds the search index and wipes these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np


@dataclass
class GalleryItem:
    """One gallery entry, decoded into buffers that can be zeroed (biometric data)."""

    id: str
    template: np.ndarray | None = None  # float32 (dim,)
    photo: np.ndarray | None = None  # uint8: the encoded JPEG/PNG/WebP file

    def wipe(self) -> None:
        if self.template is not None:
            self.template.fill(0)
        if self.photo is not None:
            self.photo.fill(0)


@dataclass
class Gallery:
    """A complete flight gallery, in memory only. ``sha256`` is what a wipe attestation reports."""

    correlation_id: str
    flight_id: str
    version: int
    embedding_model: str
    dim: int
    expires_at: datetime
    items: list[GalleryItem]
    sha256: str
    wiped: bool = field(default=False)

    def __len__(self) -> int:
        return len(self.items)

    def wipe(self) -> int:
        """Zero every template and photo buffer; returns how many entries were wiped."""
        n = len(self.items)
        for it in self.items:
            it.wipe()
        self.items.clear()
        self.wiped = True
        return n
