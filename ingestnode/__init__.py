"""The ingest node: managed document indexes (directories, files, configurations, indexes,
their syncs and retrieval) behind the IngestNode gRPC service."""
