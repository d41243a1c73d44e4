"""Bronze: the partition's landing rows, deduplicated (:mod:`vectra_pipeline.bronze.frames`)."""

import dagster as dg

from vectra_pipeline import storage, warehouse
from vectra_pipeline.bronze.frames import DUPLICATE_WINDOW_NS
from vectra_pipeline.bronze_build import build_frames_partition
from vectra_pipeline.datasets.identity import asset_code_version
from vectra_pipeline.defs.metadata import notes, preview
from vectra_pipeline.defs.partitions import daily
from vectra_pipeline.defs.resources import VectraPaths

OWNERS = ["team:vectra-pipeline"]


@dg.asset(
    name="frames",
    group_name="bronze",
    partitions_def=daily,
    owners=OWNERS,
    kinds={"python", "polars", "parquet"},
    code_version=asset_code_version("frames"),
    description=(
        "An index of the day's landing rows (only that date's segments are read; no copy of the frame text, which "
        "silver reads back from landing): one row per (capture_id, seq); inbound "
        f"frames another capture received with identical text within {DUPLICATE_WINDOW_NS / 1e9:g} s are kept "
        "but flagged duplicate_of, so silver decodes each broadcast once. A landing file that is not a readable "
        "landing segment is moved to landing/_rejected/date=…/ with a .reason file; the day's other segments build."
    ),
    metadata={"storage": storage.table_pattern("frames")},
)
def frames(context: dg.AssetExecutionContext, paths: VectraPaths) -> dg.MaterializeResult:
    date = context.partition_key
    if not storage.landing_segments(paths.root, date) and not storage.stray_landing_files(paths.root, date):
        # the UI can launch any partition: a day without landing files is refused as `vectra build --date` refuses it
        raise dg.Failure(f"no landing data for {date} under {storage.landing_folder(paths.root, date)}: nothing to build")
    built = build_frames_partition(paths.root, date)  # a segment at a time; no frame text held: bronze is an index
    for rejected in built.rejected:
        context.log.warning(rejected.line())
    warehouse.refresh(paths.root, ["frames"])
    stats = built.stats
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": built.rows,
            "landing_segments": built.segments,
            "rejected_files": dg.MetadataValue.json([{"file": r.file, "moved_to": r.moved_to, "reason": r.reason} for r in built.rejected]),
            **notes([r.line() for r in built.rejected]),
            "landing_rows": stats.landing_rows,
            "repeated_rows_dropped": stats.repeated_rows,
            "conflicting_rows": stats.conflicting_rows,
            "cross_capture_duplicates": stats.cross_capture_duplicates,
            "captures": stats.captures,
            "record_types": dg.MetadataValue.json(dict(sorted(built.record_types.items()))),
            "preview": preview(storage.scan_table(paths.root, "frames", date).head(5).collect()),
        }
    )


assets = [frames]
