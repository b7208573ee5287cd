"""The original design's scraper pipeline: the Binance trades endpoint, end to end."""

from lakehouse_airflow.originals import scraper_pipeline

dag = scraper_pipeline()
