"""How a transform engine (Spark submit or Connect) and Airflow are configured and started."""
