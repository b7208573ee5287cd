"""Shared core of the lakehouse ingestion framework.

Never imports Airflow, Scrapy or Spark at import time (docs/architecture.md, House rules).
"""

__version__ = "0.1.0"
