"""obs-cohost engine: portrait + text in, lip-synced talking head and voice out."""

__version__ = "0.1.0"
