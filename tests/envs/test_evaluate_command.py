"""``vectra evaluate``: the baselines on a version's test split and on fresh Sim-v0 games, printed and recorded beside
the version (never inside it), reproducible, read back by the Minari export; an empty split or a missing version is
said in one line."""

from __future__ import annotations

import hashlib
import json

import pytest
from dataset_versions import player_version

from capture_agent.cli import main
from vectra_pipeline.envs.baselines import scores_path
from vectra_pipeline.exports.minari import load_minari


def _digest(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_scores_are_printed_recorded_beside_the_version_and_read_by_minari(tmp_path, capsys):
    version, _ = player_version(tmp_path, 15, seed=4)
    before = _digest(version.path)
    assert main(["evaluate", "--data", str(tmp_path), "--sim-games", "4"]) == 0  # the latest version
    out = capsys.readouterr().out
    for policy in ("hold", "random", "rule"):
        assert policy in out
    path = scores_path(version)
    assert path.parent == version.path.parent and f"scores recorded in {path}\n" in out
    assert _digest(version.path) == before  # a version is immutable: nothing written inside it
    recorded = json.loads(path.read_text())
    test_episodes = version.manifest["counts"]["per_split"]["test"]["episodes"]
    replay = recorded["replay"]["scores"]
    assert {s["episodes"] for s in replay.values()} == {test_episodes}
    assert replay["hold"]["mean"] == 0 == replay["hold"]["std"]  # never trading never changes the equity
    assert replay["random"]["mean"] != 0 and recorded["sim"]["games"] == 4
    assert {s["episodes"] for s in recorded["sim"]["scores"].values()} == {4}
    assert recorded["replay"]["ref_max_score"] == max(s["mean"] for s in replay.values())
    assert main(["evaluate", version.id, "--data", str(tmp_path), "--sim-games", "4"]) == 0  # by id: the same scores
    assert json.loads(path.read_text()) == recorded
    metadata = load_minari(version, "train").storage.metadata
    assert (metadata["ref_min_score"], metadata["ref_max_score"]) == (recorded["replay"]["ref_min_score"], recorded["replay"]["ref_max_score"])


def test_an_empty_split_still_plays_simulated_games_and_a_missing_version_is_one_line(tmp_path, capsys):
    version, _ = player_version(tmp_path, 5, seed=3, fractions=(1.0, 0.0, 0.0))
    assert main(["evaluate", str(version.path), "--sim-games", "2"]) == 0
    assert "no 'test' episodes" in capsys.readouterr().out
    recorded = json.loads(scores_path(version).read_text())
    assert "no 'test' episodes" in recorded["replay"]["error"] and "ref_min_score" not in recorded["replay"]
    assert recorded["sim"]["scores"]["hold"]["episodes"] == 2
    for argv, said in ((["evaluate", str(version.path), "--sim-games", "0"], "nothing to evaluate"),
                       (["evaluate", "0123456789abcdef", "--data", str(tmp_path)], "no dataset version 0123456789abcdef"),
                       (["evaluate", "--data", str(tmp_path / "empty")], "no dataset version under")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("vectra: error: ") and said in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("games", ["-1"])
def test_a_negative_game_count_is_refused(tmp_path, capsys, games):
    player_version(tmp_path, 5, seed=3)
    assert main(["evaluate", "--data", str(tmp_path), "--sim-games", games]) == 2
    assert "--sim-games must be 0 or more" in capsys.readouterr().err
