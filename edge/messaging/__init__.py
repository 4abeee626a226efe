"""MQTT messaging: settings, ids, topics, message schemas, inbound validation, the gallery request,
the paho client, the outbox and GateLink (the daemon's one interface to all of it).

Never imports the config, the camera, the models or OpenCV: the config embeds this layer's settings
models (:mod:`edge.messaging.settings`), not the other way round.
"""
