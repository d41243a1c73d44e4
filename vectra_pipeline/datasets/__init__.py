"""Versioned, immutable datasets of every kind: ``<data>/datasets/<kind>/<id>/``, one module per concept.

- **kinds** (``kinds``): ``player`` (the recording player's episodes, only games an account recorded) and ``market``
  (every game's tick path with no player, history-only games included); each with its gold tables, default episode
  policy, whose behaviour and what the reward means.
- **id** (``identity``) = sha256 of the inputs — landing segment files and their hashes, the days, the code
  version (a digest of every stage's declared ``VERSION``, never source bytes), the feature spec version and the
  parameters — so the same inputs always give the same id and any change gives a new one.
- **contents** (``contents``, the datasets stage, pure): ``episodes.parquet`` (every episode, with its ``split``:
  train / val / test, or ``excluded`` by the policy), ``observations.parquet`` (rows of the train/val/test
  episodes, with ``split``) and ``manifest.json`` (lineage: days, input files + hashes, stage versions, counts,
  split seed). Rows are sorted (observations by partition, game, tick — written one day at a time, so memory stays
  at one day), Parquet is written with fixed settings and nothing inside a version holds a timestamp, so a rebuild
  is byte-identical.
- **splits** by game (``splits``): ``sha256("<seed>:<game_id>")``'s first 8 bytes / 2⁶⁴ against the cumulative
  fractions; from 3 eligible games on, every split is non-empty (else the manifest's ``splits_note`` says so).
- **card** (``card``): the generated ``README.md`` of every version (counts, semantics, coverage, feature statistics,
  episode returns, how to load it, lineage); ``vectra datasets`` lists versions by kind and shows one.
- **publish** (``publish``): the manifest last (``storage.publish_folder``): locally, filled into a temp folder beside
  the target, fsynced, then renamed into place; on a bucket, the files uploaded, then ``manifest.json`` created with
  ``If-None-Match: *``. A kill at any moment leaves no version or a complete one. An existing id is reused, never
  rewritten: a second publisher of it finds it already published.
- **registry** (``registry``): list the versions, ``latest_dataset(data_dir, name="player")`` (name = kind) → id, path,
  manifest (or None) from the ``_history/`` records beside the versions (one per publish; an older ``history.jsonl``
  is read first), read a version's rows.
- **days** (``days``, with ``lineage``): a version covers only days whose last build succeeded and is current.
- **DuckDB**: the view ``datasets`` (``vectra_pipeline.warehouse``) has one row per version, read from the
  manifests; a dot-prefixed folder is never a row.
- **Dagster**: the ``training_dataset`` asset publishes every kind over every day that built fully
  (``DatasetConfig`` holds the parameters); ``minari_datasets`` exports the latest version of each kind.
"""
