"""Typed events, the console protocol and system tables' readers."""
