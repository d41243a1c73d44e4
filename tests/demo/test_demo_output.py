"""What the demo prints after its build: example tables whose headers are never cut (``ack_rea…``) however narrow
the terminal, values whole; and every check that did not pass named with its figures, not only counted."""

from __future__ import annotations

import io

from rich.console import Console

from vectra_pipeline import schema, storage
from vectra_pipeline.build import BuildSummary
from vectra_pipeline.commands.build import check_lines
from vectra_pipeline.commands.demo import _print_query


def test_example_tables_keep_every_header_and_value_whole_on_a_narrow_terminal(tmp_path):
    storage.write_table(tmp_path, "frames", "2025-12-10", schema.empty("frames"))  # a root with a warehouse view
    names = ["kind", "tick", "ack_ok", "ack_reason", "exec_tick", "exec_price", "click_selector"]
    sql = ("SELECT 'buy' AS kind, 12 AS tick, true AS ack_ok, 'Insufficient balance for this order' AS ack_reason, "
           "13 AS exec_tick, 1.234567 AS exec_price, 'main > div.controls > button#buy-button' AS click_selector")
    buffer = io.StringIO()
    _print_query(Console(file=buffer, width=60, color_system=None), tmp_path, "actions", sql)
    text = buffer.getvalue()
    header = next(line for line in text.splitlines() if "ack_reason" in line)
    assert all(name in header for name in names) and "…" not in text
    row = next(line for line in text.splitlines() if "Insufficient" in line)
    assert "Insufficient balance for this order" in row and "main > div.controls > button#buy-button" in row


def test_a_failed_check_is_named_in_the_demo_summary_lines():
    summary = BuildSummary()
    summary.checks = [("dataset_not_republished", "", False, "ERROR"), ("games_present", "2025-12-10", True, "ERROR")]
    summary.check_details = {("dataset_not_republished", ""): "version 3f2a already holds these inputs"}
    tally, *named = check_lines(summary)
    assert tally == "checks: 1 passed, 0 warned, 1 failed"
    assert named == ["  [red]ERROR[/] dataset_not_republished (version 3f2a already holds these inputs)"]
