"""Where landed pages and manifests live in object storage, and how they are read and written."""
