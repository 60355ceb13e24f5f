"""Connectors, one module each, all yielding Arrow tables with their new source positions."""
