"""Capture sources: where frames come from (browser via CDP, direct Engine.IO client)."""
