"""Governance queues for humans (PRODUCT §8): admin blocks, the watchlist and team tickets."""
