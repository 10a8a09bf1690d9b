"""capalloc's data contract: instance files in, plans out (pydantic v2)."""

from capalloc.models.common import CsvSeries, GrowthSeries, month_ordinal, ordinal_to_month, series_values
from capalloc.models.instance import (
    AIPhase,
    EnergizationStep,
    ExistingDebt,
    Finance,
    FleetGeneration,
    Halving,
    Instance,
    Market,
    MarketScenario,
    ProjectDebt,
    Revolver,
    Site,
    SolverSettings,
    TerminalValue,
)
from capalloc.models.loader import (
    InstanceError,
    Problem,
    instance_fingerprint,
    load_instance,
    validate_instance_data,
)
from capalloc.models.plan import Plan

__all__ = [
    "AIPhase", "CsvSeries", "EnergizationStep", "ExistingDebt", "Finance", "FleetGeneration",
    "GrowthSeries", "Halving", "Instance", "InstanceError", "Market", "MarketScenario", "Plan",
    "Problem", "ProjectDebt", "Revolver", "Site", "SolverSettings", "TerminalValue",
    "instance_fingerprint", "load_instance", "month_ordinal", "ordinal_to_month",
    "series_values", "validate_instance_data",
]
