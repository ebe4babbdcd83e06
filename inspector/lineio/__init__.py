"""Line protocols (MQTT, OPC UA): triggers in and results out, one file per protocol.

The registry (`inspector.lineio.registry.PROTOCOLS`) is imported where protocols are built, so
loading a config (`inspector.lineio.config`) never imports paho, asyncua or the database layer.
"""
