"""Measurements of a running stack: `bench` (throughput and latency) and `race` (lost updates)."""
