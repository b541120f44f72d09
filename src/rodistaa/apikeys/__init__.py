"""Partner API keys: scoped, hashed, expiring, revocable credentials for external systems."""
