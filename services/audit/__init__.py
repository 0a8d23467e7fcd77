"""audit: one append-only, hash-chained log of every event of every service."""
