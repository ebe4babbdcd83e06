"""Upstream process events: ingestion (HTTP, CSV, MQTT), genealogy and root-cause analytics."""
