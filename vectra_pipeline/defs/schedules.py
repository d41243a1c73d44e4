"""Filled by the gold stage."""

schedules = []
