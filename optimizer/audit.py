"""Placeholder replaced by the independent audit (issue 3)."""
