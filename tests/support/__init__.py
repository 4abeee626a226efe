"""Helpers shared by the test folders (importable as ``support``: tests/ is on sys.path).

- :func:`wait_for`: poll a real condition until it holds (never sleep and hope);
- :class:`Watcher`: an MQTT subscriber that waits for its SUBACK and records what each topic got;
- :func:`fast_mqtt`: broker settings that reconnect quickly, for tests;
- :mod:`support.keys`: fixed test keys per signing role, the anchors that trust them, forgeries.
"""

from __future__ import annotations

from support.mqtt import Watcher, fast_mqtt
from support.waiting import wait_for

__all__ = ["Watcher", "fast_mqtt", "wait_for"]
