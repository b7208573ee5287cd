"""Crawl jobs and the Redis queue that carries them: keys, Lua scripts, rate limits, the first request."""
