"""Configuration: schema, loading with clear errors, fleet merge, last known good."""
