"""The Iceberg catalog and the tables the pipeline writes: signals, merge log, schema evolution."""
