"""Vigil's streaming side: camera ingest, sampling, batching, the pipeline, alerts, metrics, API and CLI."""

__version__ = "0.1.0"
