"""Long-running services: executor daemon (puller), reclaimer, retrier, reapers.

Layer: services (above engine and scheduling, below api). Filled by the scheduling issue.
"""
