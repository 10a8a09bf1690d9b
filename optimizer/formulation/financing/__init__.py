"""Financing instruments offered to the plan as decisions (issue 14), one module per family."""
