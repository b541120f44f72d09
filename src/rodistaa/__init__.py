"""Rodistaa Core: the freight marketplace API and the ACS fraud-and-policy engine."""

__version__ = "0.1.0"
