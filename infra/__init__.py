"""Running the platform: the local stack, the demo, sample data."""
