"""Daily UTC partitions over landing dates (``<data>/landing/date=YYYY-MM-DD``); the first real captures are July 2025."""

import dagster as dg

START_DATE = "2025-07-01"

daily = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC", end_offset=1)
