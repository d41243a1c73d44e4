"""Filled by the gold stage."""

assets = []
