"""One module per `lakehouse` command (or group); each registers itself with ``register(app)``."""
