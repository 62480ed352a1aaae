"""Quiver: a distributed vector database. This package holds what every role shares."""

__version__ = "0.1.0"
