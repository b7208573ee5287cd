"""What an operator asks about a running lakehouse: freshness, SLAs, table overviews, secrets."""
