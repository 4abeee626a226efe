"""The gate's MQTT contract, for integrators: an AsyncAPI 3.0 document built from the topic tree
(:data:`edge.messaging.topics.CHANNELS`), the message schemas and their examples, and the config schema
(the body of a desired config).

Its own layer beside the daemon and the offline tools: it reads messaging and config, the two it
describes, and nothing imports it but `gate-edge schema` (edge/commands/schema.py).
"""

from edge.contract.asyncapi import ASYNCAPI_VERSION, asyncapi_document, desired_config_schema

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document", "desired_config_schema"]
