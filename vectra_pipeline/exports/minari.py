"""Minari datasets of a dataset version, offline, in ``<version>/minari/``.

    MINARI_DATASETS_PATH=<version>/minari python -c "import minari; print(minari.list_local_datasets())"
    load_minari("<version>", "test")   # the same, without the variable

One Minari dataset per non-empty split, id ``vectra/<kind>-<split>-<version id>-v0`` (the ``-v0`` is Minari's own
suffix; the Vectra version is in the name, so two versions never collide), arrow format. Each episode holds the n
observations of a game's rows (float32 vectors in feature order), its n−1 recorded actions (``{"kind": int64,
"amount": float64 SOL}``, :mod:`vectra_pipeline.gold.action_space`), rewards (float64 SOL, as in the rows, the numpy
loader and the environments) and terminated/truncated flags, and ``infos`` with the ``game_id`` (and ``player_id``
in a crowd version) and ``tick`` of each observation, as plain lists (Minari cannot decode 1-D numpy arrays there).

``env_spec`` is ``vectra/Replay-v0`` on the same split and ``eval_env_spec`` on the test split (its own split when the test split is empty), with the version *id*
as ``dataset`` so the spec stays valid wherever the folder moves: ``recover_environment()`` finds the version beside
``MINARI_DATASETS_PATH``, else under ``VECTRA_DATA``. ``ref_min_score``/``ref_max_score`` are the worst and best
baseline means on the test split (:mod:`vectra_pipeline.envs.baselines`: the ones ``vectra evaluate`` records, computed
with its default seed when it has not run); absent when the test split is empty.

Episodes are encoded directly (``DataCollector`` would pull in jax) a run of games at a time, in Minari's own arrow
layout and encoding, one encoding pass and one metadata write per run (:func:`_add_episodes`). The folder is written
once, beside the published version (``datasets/<kind>/.<id>-minari.<pid>.tmp``, never inside it), then moved in by one rename: the
version holds no ``minari/`` or a complete one, and a killed export's temp is swept by the next one. The dataset
files themselves are never touched.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gymnasium as gym
import numpy as np
import polars as pl
import pyarrow as pa
from gymnasium.envs.registration import EnvSpec

from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import DatasetVersion, as_version, feature_names, games_of_split
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.envs import REPLAY_ENV_ID
from vectra_pipeline.envs.recorded import episode_key, episode_row_batches
from vectra_pipeline.envs.spaces import action_space, observation_space, recorded_actions
from vectra_pipeline.local_files import entries_in_glob_order, write_minari_episodes

EVAL_SPLIT = "test"

MINARI_DIR = "minari"
NAMESPACE = "vectra"


@contextmanager
def minari_root(path: Path):
    """Point ``MINARI_DATASETS_PATH`` at ``path`` for the duration (restored afterwards)."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def dataset_kind(version: DatasetVersion) -> str:
    """The version's kind (``player``, ``crowd``, ``market``); a version from before kinds: its dataset name."""
    return version.manifest.get("kind") or version.name


def minari_id(version: DatasetVersion, split: str) -> str:
    return f"{NAMESPACE}/{dataset_kind(version)}-{split}-{version.id}-v0"


@dataclasses.dataclass(frozen=True)
class _Run:
    """A run of games' episodes encoded as Minari's arrow storage encodes an episode, in one pass over the run's
    columns: ``rows`` holds every episode's rows back to back, an episode's final observation padded (no action,
    reward or flag: zeros) as Minari pads it; episode i is rows ``starts[i]``… (``sizes[i]`` rows, ``steps[i]``
    transitions)."""

    rows: pa.RecordBatch
    starts: np.ndarray
    sizes: np.ndarray
    steps: np.ndarray


def _encoded_runs(version: DatasetVersion, split: str) -> Iterator[_Run]:
    """The split's episodes, a run of games at a time (memory: one run, not the split), in episode order."""
    from minari.dataset._storages.arrow_storage import _encode_space

    names = feature_names(version)
    observations_space, actions_space = observation_space(len(names)), action_space()
    for rows in episode_row_batches(version, split):
        key = episode_key(rows)
        final = rows["is_final"].to_numpy()
        actions = {name: np.where(final, 0, values) for name, values in recorded_actions(rows).items()}
        sizes = rows.group_by(key, maintain_order=True).agg(pl.len().alias("rows"), (~pl.col("is_final")).sum().alias("steps"))
        encoded = pa.RecordBatch.from_pydict({
            # float32 column by column (through float64, as a float64 matrix cast would): no run-sized float64 matrix
            "observations": _encode_space(observations_space,
                                          rows.select(pl.col(names).cast(pl.Float64).cast(pl.Float32)).to_numpy()),
            "actions": _encode_space(actions_space, actions),
            "rewards": np.where(final, 0.0, rows["reward"].cast(pl.Float64).fill_null(0.0).to_numpy()),
            "terminations": rows["terminated"].to_numpy() & ~final,
            "truncations": rows["truncated"].to_numpy() & ~final,
            "infos": _encoded_infos(rows, (*key, "tick")),
        })
        row_counts = sizes["rows"].to_numpy()
        yield _Run(encoded, np.cumsum(row_counts) - row_counts, row_counts, sizes["steps"].to_numpy())


def _encoded_infos(rows: pl.DataFrame, columns: tuple[str, ...]) -> pa.StructArray:
    """What Minari's ``_encode_info`` makes of the columns as Python lists — the types ``pa.array`` infers from their
    values: string, int64, null when every value is — cast from the columns' arrow arrays instead of built from
    Python objects (a 1M-frame day's crowd split: two million strings)."""
    arrays = []
    for column in columns:
        values = rows[column]
        if values.null_count() == len(values):
            arrays.append(pa.nulls(len(values)))
        else:
            arrays.append(values.to_arrow().cast(pa.string() if values.dtype == pl.String else pa.int64()))
    return pa.StructArray.from_arrays(arrays, fields=[pa.field(column, array.type) for column, array in zip(columns, arrays, strict=True)])


def env_spec(version: DatasetVersion, split: str) -> EnvSpec:
    """``vectra/Replay-v0`` on the split, naming the version by id (valid wherever the folder moves)."""
    return dataclasses.replace(gym.spec(REPLAY_ENV_ID), kwargs={"dataset": version.id, "split": split})


def _reference(version: DatasetVersion) -> dict:
    """``ref_min_score``/``ref_max_score`` of the test split: recorded by ``vectra evaluate``, else computed."""
    from vectra_pipeline.envs.baselines import evaluate_replay, read_scores, reference_scores

    recorded = (read_scores(version) or {}).get("replay", {})
    if recorded.get("split") == EVAL_SPLIT and "ref_min_score" in recorded:
        return {"ref_min_score": recorded["ref_min_score"], "ref_max_score": recorded["ref_max_score"]}
    reference = reference_scores(evaluate_replay(version, EVAL_SPLIT))
    return {} if reference is None else {"ref_min_score": reference[0], "ref_max_score": reference[1]}


def export_minari(dataset: DatasetVersion | Path | str, splits: tuple[str, ...] = SPLITS) -> Path:
    """Write the Minari datasets of a version (once); returns ``<version>/minari``."""
    version = as_version(dataset)
    final, temp = storage.version_export(version.path, MINARI_DIR)
    storage.sweep(version.path)  # an earlier release wrote its temp inside the version
    storage.sweep(version.path.parent)
    if storage.folder_sealed(final, storage.EXPORT_SEAL):
        return final
    try:
        storage.publish_folder(final, lambda folder: _write_splits(version, splits, folder), ready="minari:written",
                               temp=temp, seal=storage.EXPORT_SEAL)
    except BaseException:
        if storage.folder_sealed(final, storage.EXPORT_SEAL):  # a concurrent export won
            return final
        raise
    return final


def _write_splits(version: DatasetVersion, splits: tuple[str, ...], folder: Path) -> None:
    """One Minari dataset per non-empty split in ``folder`` (all empty: an empty folder, not an error)."""
    from minari.dataset.minari_storage import MinariStorage

    written = {}
    evaluation = EVAL_SPLIT if EVAL_SPLIT in splits and games_of_split(version, EVAL_SPLIT) else None
    # Minari warns about metadata an offline recording cannot have (author email…)
    with minari_root(folder), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\.")
        for split in splits:
            created = None
            for run in _encoded_runs(version, split):
                created = created or _create(version, split, evaluation).storage
                _add_episodes(created, run)
            if created is not None:
                written[split] = created.data_path
    reference = _reference(version) if evaluation else {}
    for split, data_path in written.items():
        # set after creation: at creation Minari would build the environment, whose version is not in place yet
        storage_ = MinariStorage.read(data_path)
        storage_.update_metadata({"env_spec": env_spec(version, split).to_json(), "dataset_size": _dataset_size(data_path),
                                  **reference})


def _dataset_size(data_path: Path) -> np.float64:
    """``MinariStorage.get_size()``'s value — MB to 0.1, each entry's st_size / 10⁶ added in the order its
    ``glob("**/*")`` lists them, so the same float — by one scandir per folder, without its pathlib walk and its
    path object per entry (6.5 s for the 52k entries of a 1M day's crowd split)."""
    size = 0
    for entry in entries_in_glob_order(data_path):
        size += entry.stat().st_size / 1000000
    return np.round(size, 1)


def _create(version: DatasetVersion, split: str, evaluation: str | None):
    """The split's Minari dataset, created empty (its episodes are added a run at a time)."""
    import minari

    return minari.create_dataset_from_buffers(
        dataset_id=minari_id(version, split),
        buffer=[],
        eval_env=env_spec(version, evaluation or split),
        observation_space=observation_space(len(feature_names(version))),
        action_space=action_space(),
        algorithm_name="recorded human/bot play",
        author="vectra",
        code_permalink=f"vectra code version {version.manifest['code_version']}",
        description=f"Vectra {dataset_kind(version)} dataset version {version.id}, split {split}; actions: "
                    "a kind and an amount in SOL; rewards: SOL; features: docs/FEATURES.md (spec "
                    f"{version.manifest['feature_spec']['version']}).",
        data_format="arrow",
    )


def _add_episodes(storage_, run: _Run) -> None:
    """A run's episodes added to an arrow Minari dataset, numbered on from its last: the files and totals its
    ``update_episodes`` writes (each episode's rows in its own file), but each file written straight from the run's
    encoded rows and the dataset's metadata once for the run. Minari's writes one episode at a time and rewrites the
    dataset's metadata after each (17k crowd episodes: 80 s at 1M); its own encoders make the rows, so the bytes
    are the same."""
    first = storage_.total_episodes
    write_minari_episodes(storage_.data_path, (
        # taken, not sliced: a slice would carry the run's string data and bitmap bits into the file
        (first + i, run.rows.take(np.arange(start, start + size, dtype=np.int64)), {"id": first + i, "total_steps": int(steps)})
        for i, (start, size, steps) in enumerate(zip(run.starts, run.sizes, run.steps, strict=True))
    ))
    storage_.update_metadata({"total_steps": storage_.total_steps + int(run.steps.sum()),
                              "total_episodes": first + len(run.sizes)})


def load_minari(dataset: DatasetVersion | Path | str, split: str = "train"):
    """The split's ``minari.MinariDataset`` (exported first when needed); a split without episodes is one clear
    error naming the splits that have some."""
    import minari

    version = as_version(dataset)
    root = export_minari(version)
    dataset_id = minari_id(version, split)
    if not (root / dataset_id).is_dir():
        held = [s for s in SPLITS if (root / minari_id(version, s)).is_dir()]
        raise ValueError(f"dataset {version.id} has no {split!r} episodes to load; splits with episodes: {', '.join(held) or 'none'}")
    with minari_root(root):
        return minari.load_dataset(dataset_id)
