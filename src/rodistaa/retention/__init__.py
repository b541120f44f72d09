"""Retention jobs (docs/retention.md): what is deleted, summarised or kept, and for how long."""
