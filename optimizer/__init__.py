"""capalloc's engine: formulation, solve pipeline, plans, audit, comparison, sweeps, CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("capalloc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
