"""Settings, the worker's config, file locations and the YAML loader: what every part reads first."""
