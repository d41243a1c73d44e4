"""The landing days: one dynamic partition per UTC date that has landing files (``<data>/landing/date=YYYY-MM-DD``).

Fixed daily partitions from a start date made a fully built root look like a backlog ("1 materialized, 514
missing") and offered days with no data. Dynamic partitions list exactly the days that exist: ``vectra build``
registers the days it builds, ``vectra ui`` every landing day at start, the ``landing_segments`` sensor each day it
sees new segments of. Registering is idempotent; keys are the ``YYYY-MM-DD`` dates, so the asset code is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

LANDING_DAYS = "landing_days"

daily = dg.DynamicPartitionsDefinition(name=LANDING_DAYS)


def register_days(instance: dg.DagsterInstance, days: Iterable[str]) -> list[str]:
    """Add the days the instance does not know yet as partitions; returns those added (sorted)."""
    known = set(instance.get_dynamic_partitions(LANDING_DAYS))
    new = sorted(set(days) - known)
    if new:
        instance.add_dynamic_partitions(LANDING_DAYS, new)
    return new
