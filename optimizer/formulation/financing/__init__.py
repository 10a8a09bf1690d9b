"""Financing decisions (issue 14), one module per instrument family, each posting to the
cash, value and terminal ledgers of the BuildContext."""
