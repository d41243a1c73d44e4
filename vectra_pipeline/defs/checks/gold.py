"""Filled by the gold stage."""

checks = []
