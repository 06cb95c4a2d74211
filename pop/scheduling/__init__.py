"""Insight mapping and FIFO / round-robin / priority selection.

Layer: scheduling (beside engine). ``mapping`` picks a submitted agenda's insight, ``facility``
checks and stores customers, pools and insights, ``selection`` holds the pure selection
algorithms, and ``claim`` hands queued agendas out to executors atomically.
"""
