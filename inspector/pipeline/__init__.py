"""The station pipeline: threads, bounded buffers, triggers, the Station root and its metrics.

Nothing is imported here, so the API can import the StationControl protocol without the threads.
"""
