"""Shared core of the lakehouse ingestion framework.

Never imports Airflow, Scrapy or Spark at import time (see ARCHITECTURE.md).
"""

__version__ = "0.1.0"
