"""Surge: short links and click analytics that stay up when a link goes viral."""

__version__ = "0.1.0"
