"""The fleet admin's tool behind `gate-edge fleet`: what the gates say about themselves (their retained
status and config reports), desired config pushed and its reports awaited, commands sent and their
replies awaited, and the gates' decisions followed live. Everything that changes a gate goes out signed
with the fleet admin's key (edge/messaging/envelope.py), as the gates require.

It reads and writes MQTT only through :mod:`edge.messaging` (the product's client and schemas) and
validates desired config with the gate's own schema (:mod:`edge.config`), so what it says matches what
a gate does.
"""
