"""The Minari export adds a split's episodes a run of games at a time (memory: one run): every file it writes is
byte for byte the one a single run writes — episode numbering, metadata and totals included — for a player version
and a crowd-like one (several trajectories per game); and the episodes it encodes a run at a time, in one pass over
the run's columns, are byte for byte the files Minari's own ``update_episodes`` writes from buffers built from each
episode's own rows (same values, same dtypes)."""

from __future__ import annotations

import hashlib
import shutil
from functools import partial

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from dataset_versions import contract_version, player_version
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectra_pipeline.datasets.registry import feature_names, load_version
from vectra_pipeline.envs.recorded import episode_key, episode_row_batches, episode_rows
from vectra_pipeline.envs.spaces import recorded_actions
from vectra_pipeline.exports import minari as minari_export


def _hashes(folder):
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    player = player_version(tmp_path_factory.mktemp("data"), 12, seed=7)[0]
    return {"player": player, "crowd": contract_version(player, tmp_path_factory.mktemp("crowd") / "v", players=("b", "a"))}


@pytest.mark.parametrize("kind", ["player", "crowd"])
def test_runs_of_one_or_two_games_write_the_files_one_run_writes(versions, kind, tmp_path, monkeypatch):
    exported = {}
    for games in (1, 2, 10_000):
        copy = tmp_path / f"{games}" / versions[kind].path.name
        shutil.copytree(versions[kind].path, copy, ignore=shutil.ignore_patterns("minari"))
        monkeypatch.setattr(minari_export, "episode_row_batches", partial(episode_row_batches, games_per_batch=games))
        exported[games] = _hashes(minari_export.export_minari(load_version(copy)))
    assert len(exported[10_000]) > 4  # metadata and at least one episode's files per split
    assert exported[1] == exported[10_000] and exported[2] == exported[10_000]


def _episode_by_episode(version, split):
    """Each episode's buffer fields from its own rows, one polars pass per episode (the obvious build)."""
    rows = episode_rows(version, split)
    key = episode_key(rows)
    for _, episode in rows.group_by(key, maintain_order=True):
        steps = episode.filter(~episode["is_final"])
        yield {
            "observations": episode.select(feature_names(version)).to_numpy().astype(np.float32),
            "actions": recorded_actions(steps),
            "rewards": steps["reward"].cast(pl.Float64).fill_null(0.0).to_list(),
            "terminations": steps["terminated"].to_list(),
            "truncations": steps["truncated"].to_list(),
            "infos": {**{column: episode[column].to_list() for column in key}, "tick": episode["tick"].to_list()},
        }


@pytest.mark.filterwarnings("ignore::UserWarning:minari")  # its reference dataset lacks spec, permalink…: on purpose
@pytest.mark.parametrize("kind", ["player", "crowd"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_episodes_written_a_run_at_a_time_are_the_files_minaris_own_writer_writes(versions, kind, split, tmp_path, monkeypatch):
    """Minari's own writer fed each episode's buffer built from that episode's own rows: every episode file the
    export writes from a run's encoded columns is byte for byte the one it writes."""
    import minari
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    monkeypatch.setattr(minari_export, "episode_row_batches", partial(episode_row_batches, games_per_batch=2))
    version = versions[kind]
    ours = minari_export.export_minari(version)
    buffers = [EpisodeBuffer(id=i, **fields) for i, fields in enumerate(_episode_by_episode(version, split))]
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    theirs = minari.create_dataset_from_buffers(  # one update_episodes of every episode, Minari's way
        dataset_id=minari_export.minari_id(version, split), buffer=buffers,
        observation_space=minari_export.observation_space(len(feature_names(version))),
        action_space=minari_export.action_space(), data_format="arrow").storage
    our_data = ours / minari_export.minari_id(version, split) / "data"
    episode_files = {name: digest for name, digest in _hashes(our_data).items() if name != "metadata.json"}
    assert len(episode_files) == 2 * len(buffers) >= 4  # part-0.arrow and metadata.json of each episode (2 or more)
    assert episode_files == {name: d for name, d in _hashes(theirs.data_path).items() if name != "metadata.json"}
    our_totals = MinariStorage.read(our_data)
    assert (our_totals.total_steps, our_totals.total_episodes) == (theirs.total_steps, theirs.total_episodes)


def _ipc_bytes(array: pa.Array) -> bytes:
    """The Arrow IPC file of one column, its rows taken as the episode writer takes them."""
    rows = pa.RecordBatch.from_pydict({"infos": array}).take(np.arange(len(array), dtype=np.int64))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, rows.schema) as writer:
        writer.write_batch(rows)
    return sink.getvalue().to_pybytes()


_CELLS = {"string": st.text(max_size=6), "int32": st.integers(-2**31, 2**31 - 1), "int64": st.integers(-2**63, 2**63 - 1)}


@st.composite
def _columns(draw) -> list[tuple[str, list]]:
    rows = draw(st.integers(1, 30))
    columns = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(sorted(_CELLS)))
        cell = st.one_of(st.none(), _CELLS[kind]) if draw(st.booleans()) else _CELLS[kind]
        columns.append((kind, draw(st.lists(cell, min_size=rows, max_size=rows))))
    return columns


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_columns())
def test_infos_encoded_from_the_columns_are_minaris_encoding_of_their_values(columns):
    """Strings, ints, nulls, a column all null: the same arrow type, values and file bytes as Minari's own encoder."""
    from minari.dataset._storages.arrow_storage import _encode_info

    dtypes = {"string": pl.String, "int32": pl.Int32, "int64": pl.Int64}
    rows = pl.DataFrame([pl.Series(f"c{i}", values, dtype=dtypes[kind]) for i, (kind, values) in enumerate(columns)])
    names = tuple(rows.columns)
    ours, theirs = minari_export._encoded_infos(rows, names), _encode_info({c: rows[c].to_list() for c in names})
    assert ours.type == theirs.type and ours.equals(theirs)
    assert _ipc_bytes(ours) == _ipc_bytes(theirs)
