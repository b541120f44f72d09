"""The admin dashboard (PRODUCT §8): platform-wide numbers from live data."""
