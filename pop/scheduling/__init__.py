"""Insight mapping and FIFO / round-robin / priority selection.

Layer: scheduling (beside engine). Filled by the scheduling issue.
"""
