"""Minari datasets of a dataset version, offline, in ``<version>/minari/`` (``MINARI_DATASETS_PATH`` points there).

One Minari dataset per split, ``vectra/<name>-<split>-v0``, arrow format. Each episode buffer holds the n
observations of the episode's rows (float32 vectors in spec order), the n−1 recorded actions, rewards and
terminated/truncated flags; ``infos`` carry the tick of each observation as a plain list (Minari cannot decode
1-D numpy arrays there). Buffers are built directly (``DataCollector`` would pull in jax). The folder
is written once, beside the published version (``datasets/<name>/.<id>-minari.<pid>.tmp``, never inside it), then
moved in by one rename: the version holds no ``minari/`` or a complete one, and a killed export's temp is swept
by the next one. The dataset files themselves are never touched.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np

from vectra_pipeline import storage
from vectra_pipeline.datasets.registry import DatasetVersion, as_version, feature_names, read_observations
from vectra_pipeline.datasets.splits import SPLITS
from vectra_pipeline.envs.spaces import action_space, observation_space

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


def minari_id(version: DatasetVersion, split: str) -> str:
    return f"{NAMESPACE}/{version.name}-{split}-v0"


def _buffers(version: DatasetVersion, split: str) -> list:
    from minari.data_collector import EpisodeBuffer

    names = feature_names(version)
    rows = read_observations(version, split)
    buffers = []
    for episode_id, (_, episode) in enumerate(rows.group_by("game_id", maintain_order=True)):
        steps = episode.filter(~episode["is_final"])
        buffers.append(EpisodeBuffer(
            id=episode_id,
            observations=episode.select(names).to_numpy().astype(np.float32),
            actions=steps["action"].to_numpy().astype(np.int64),
            rewards=steps["reward"].to_list(),
            terminations=steps["terminated"].to_list(),
            truncations=steps["truncated"].to_list(),
            infos={"tick": episode["tick"].to_list()},
        ))
    return buffers


def export_minari(dataset: DatasetVersion | Path | str, splits: tuple[str, ...] = SPLITS) -> Path:
    """Write the Minari datasets of a version (once); returns ``<version>/minari``."""
    version = as_version(dataset)
    final, temp = storage.version_export(version.path, MINARI_DIR)
    storage.sweep(version.path)  # an earlier release wrote its temp inside the version
    storage.sweep(version.path.parent)
    if final.exists():
        return final
    try:
        storage.publish_folder(final, lambda folder: _write_splits(version, splits, folder), ready="minari:written", temp=temp)
    except BaseException:
        if final.exists():  # a concurrent export won
            return final
        raise
    return final


def _write_splits(version: DatasetVersion, splits: tuple[str, ...], folder: Path) -> None:
    """One Minari dataset per non-empty split in ``folder`` (all empty: an empty folder, not an error)."""
    import minari
    from minari.dataset.minari_storage import MinariStorage

    sized = []
    # Minari warns about metadata an offline recording cannot have (eval env, author email, env spec), and
    # re-measures the whole folder after every episode (quadratic in episodes: 90 s for one day); the size is
    # measured once per split instead.
    with minari_root(folder), warnings.catch_warnings(), mock.patch.object(MinariStorage, "get_size", return_value=0.0):
        warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\.")
        for split in splits:
            buffers = _buffers(version, split)
            if not buffers:
                continue
            created = minari.create_dataset_from_buffers(
                dataset_id=minari_id(version, split),
                buffer=buffers,
                observation_space=observation_space(len(feature_names(version))),
                action_space=action_space(),
                algorithm_name="recorded human/bot play",
                author="vectra",
                code_permalink=f"vectra code version {version.manifest['code_version']}",
                description=f"Vectra dataset {version.name} version {version.id}, split {split}; features: "
                            f"docs/FEATURES.md (spec {version.manifest['feature_spec']['version']}).",
                data_format="arrow",
            )
            sized.append(created.storage.data_path)
    for data_path in sized:
        written = MinariStorage.read(data_path)
        written.update_metadata({"dataset_size": written.get_size()})


def load_minari(dataset: DatasetVersion | Path | str, split: str = "train"):
    """The split's ``minari.MinariDataset`` (exported first when needed)."""
    import minari

    version = as_version(dataset)
    root = export_minari(version)
    with minari_root(root):
        return minari.load_dataset(minari_id(version, split))
