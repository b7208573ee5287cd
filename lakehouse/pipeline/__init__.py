"""The steps of one slot's ingestion and the runtime plans that read landings from S3."""
