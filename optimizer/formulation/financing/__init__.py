"""Financing decisions and the rules on them (issue 14), one module per instrument family."""
