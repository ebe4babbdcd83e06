"""Inspector: a line-side visual quality inspection station."""

__version__ = "0.1.0"
