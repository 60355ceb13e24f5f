"""Offsets, job progress, run history and commit clocks, stored in the lake."""
