"""The engine-free transform: a landing's raw pages -> typed Arrow rows -> a slot batch
written by a SlotWriter.

conversions (the one table of column types), typer (per-record and vectorised),
pages and arrow_pages (parsing a page), batches (pages -> a typed table), fetch and
landings (reading raw landings), reader (a landing -> rows and quarantine rows),
writers (the SlotWriter interface and the pyarrow overwrite writer, over
arrow_overwrite and the pyiceberg_files adapter), merge_rows (a merge table's batch),
threads and run (the orchestration).
No engine is imported here: the Spark writers and the table DDL live in spark_jobs/.
"""
