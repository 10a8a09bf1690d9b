"""Cross-field checks of notes programs, convertibles and equity issuance (issue 14).

Returns (field path, problem, hint) triples; models.loader turns them into Problems."""

from __future__ import annotations

from capalloc.models.common import month_ordinal, ordinal_to_month
from capalloc.models.instance import Instance

Found = tuple[str, str, str]


def notes_problems(instance: Instance, market_shorthand: bool = False) -> list[Found]:
    found: list[Found] = []
    finance = instance.finance
    start = month_ordinal(instance.start)
    end = start + instance.horizon_months - 1
    ids = [p.id for p in finance.notes_programs]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        found.append(("finance.notes_programs", f"program id {dup!r} appears more than once",
                      "ids must be unique"))
    for program in finance.notes_programs:
        where = f"finance.notes_programs[{program.id}]"
        first = month_ordinal(program.first_issue_month) if program.first_issue_month else start
        last = month_ordinal(program.last_issue_month) if program.last_issue_month else end
        if program.first_issue_month and first > end:
            found.append((f"{where}.first_issue_month", "falls after the horizon",
                          f"use a month up to {ordinal_to_month(end)}"))
        if program.last_issue_month and last < start:
            found.append((f"{where}.last_issue_month", "falls before the plan start",
                          f"use a month from {instance.start}"))
        if first > last:
            found.append((f"{where}.last_issue_month", "is before first_issue_month",
                          "the issue window must not be empty"))
    convertibles = [f"finance.notes_programs[{p.id}].conversion_price_usd"
                    for p in finance.notes_programs if p.conversion_price_usd is not None]
    convertibles += [f"finance.existing_debts[{d.id}].conversion_price_usd"
                     for d in finance.existing_debts if d.conversion_price_usd is not None]
    if convertibles:
        for scenario in instance.market.scenarios:
            if scenario.share_price_usd is None:
                where = "market" if market_shorthand else f"market.scenarios[{scenario.name}]"
                found.append((f"{where}.share_price_usd",
                              f"is required: {convertibles[0]} makes a note convertible",
                              "give the share price per month (USD per share) or drop the conversion price"))
    return found
