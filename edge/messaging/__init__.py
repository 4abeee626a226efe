"""MQTT messaging: topics, message schemas, inbound validation, the paho client, the outbox, GateLink."""
