"""The pipeline: landing segments → bronze → silver → gold → datasets, the folder tree being the data path.

- ``bronze/``, ``silver/``, ``gold/``: the stages, one concept per module, pure (polars in, polars out), each with a
  ``VERSION``; ``datasets/``: what a version holds (``contents``, pure), its id, publishing and the registry.
- ``envs/`` (Gymnasium, registered on import) and ``exports/`` (numpy, Minari): readers of a dataset version.
- ``schema.py``: every table's columns, types and descriptions. ``storage.py``: where every file lives, and the
  only writer. ``landing_files.py``: reading the landing zone. ``warehouse.py``: DuckDB views.
- ``build.py``: ``build()``, the library the CLI, the demo and the tests call; ``defs/``: Dagster only (assets by
  stage, checks, jobs, sensors, schedules); ``commands/``: thin CLI shells; ``docs.py``: the generated docs.
"""
