"""The package versions a plan records (models.plan.Provenance), and how `capalloc regress`
tells that a golden plan was made with others.

Another HiGHS may legitimately end at another plan within the gap, and a pandas or numpy
change can move the last digits of a table: a regression failure reads differently when the
golden plan was made with other versions, so regress says so (a note, never a failure)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from capalloc.models.plan import Plan

RECORDED_PACKAGES = ("highspy", "pyomo", "pydantic", "pandas", "numpy")
"""Packages whose versions a plan records, as Provenance fields ``<name>_version``."""


@cache
def package_versions() -> dict[str, str | None]:
    """The installed version of each recorded package (None where it is not installed)."""
    found: dict[str, str | None] = {}
    for name in RECORDED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def provenance_versions() -> dict[str, str | None]:
    """The recorded versions as Provenance keyword arguments."""
    return {f"{name}_version": value for name, value in package_versions().items()}


def recorded_versions(plan: Plan) -> dict[str, str | None]:
    """capalloc's and each recorded package's version as ``plan`` recorded them."""
    provenance = plan.provenance
    return {"capalloc": provenance.capalloc_version,
            **{name: getattr(provenance, f"{name}_version") for name in RECORDED_PACKAGES}}


def version_notes(golden: Plan, plan: Plan) -> list[str]:
    """One line per version that differs between the golden plan and today's plan, and one
    naming the versions the golden plan does not record."""
    notes = []
    highs_then, highs_now = golden.solver.solver_version, plan.solver.solver_version
    if highs_then != highs_now:
        notes.append(f"golden plan solved by HiGHS {highs_then}, this run by HiGHS {highs_now}")
    then, now = recorded_versions(golden), recorded_versions(plan)
    unrecorded = []
    for name, old in then.items():
        new = now[name]
        if old is None:
            unrecorded.append(name)
        elif old != new and not (name == "highspy" and (old, new) == (highs_then, highs_now)):
            # highspy's version is HiGHS's: the HiGHS line above already says it.
            notes.append(f"golden plan made with {name} {old}, this run with {name} {new or 'none'}")
    if unrecorded:
        notes.append(f"golden plan does not record its {', '.join(unrecorded)} versions (written by an "
                     "older capalloc; --update records them)")
    return notes
