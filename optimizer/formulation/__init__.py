"""The allocation MIP, one module per concern, assembled by :func:`build_model`."""

from capalloc.optimizer.formulation.builder import BuiltModel, build_model, retarget_model

__all__ = ["BuiltModel", "build_model", "retarget_model"]
