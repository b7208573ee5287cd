"""The embedded stack: real services on loopback, started from what init.sh installed."""
