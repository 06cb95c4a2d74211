"""The engine: agenda validation, the DAG walk that runs an agenda, submission records.

Layer: engine (above handlers, runtimes and store; below services and api).
"""
