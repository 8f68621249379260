"""kafkaish: a Kafka-wire-compatible log server."""

__version__ = "0.1.0"
