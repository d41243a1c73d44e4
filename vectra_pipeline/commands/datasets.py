"""``vectra datasets``: list the published dataset versions by kind; ``vectra datasets show ID``: one version's
counts, splits, lineage and card (with the reference scores of ``scores.json`` when ``vectra evaluate`` wrote them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from capture_agent.config import add_data_argument
from capture_agent.errors import VectraError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list",
                        help="list the versions by kind (default), or show one")
    parser.add_argument("version", nargs="?", help="show: a version id (or its first characters), or a version folder")
    parser.add_argument("--kind", help="only this kind (player, market)")
    add_data_argument(parser, remote=True)


def list_text(data_dir: Path, kind: str | None = None) -> str:
    """Every published version, by kind, newest first within a kind; the latest marked."""
    from vectra_pipeline import storage
    from vectra_pipeline.datasets.kinds import KINDS, kind_of
    from vectra_pipeline.datasets.registry import latest_dataset, load_version
    from vectra_pipeline.datasets.splits import SPLITS

    kinds = [kind_of(kind).name] if kind else list(KINDS)
    lines = []
    for name in kinds:
        versions, unreadable = [], []
        for folder in storage.version_folders(data_dir, name):  # one damaged version never hides the others
            try:
                versions.append(load_version(folder))
            except (ValueError, KeyError, OSError) as error:
                unreadable.append(f"  {folder.name}  unreadable manifest ({type(error).__name__}): not listed")
        latest = _latest(latest_dataset, data_dir, name)
        lines.append(f"{name}: {len(versions)} version{'' if len(versions) == 1 else 's'}")
        lines.extend(unreadable)
        for version in sorted(versions, key=lambda v: (v.manifest["partitions"], v.id), reverse=True):
            counts = version.manifest["counts"]
            splits = " / ".join(f"{s} {counts['per_split'][s]['episodes']}" for s in SPLITS)
            mark = "  (latest)" if latest is not None and latest.id == version.id else ""
            lines.append(f"  {version.id}  {', '.join(version.manifest['partitions'])}  {counts['episodes_in_training']} "
                         f"episodes ({splits}), {counts['rows']:,} rows{mark}")
    return "\n".join(lines)


def _latest(latest_dataset, data_dir: Path, name: str):
    try:
        return latest_dataset(data_dir, name)
    except (ValueError, KeyError, OSError):  # the latest one is the damaged one: no mark
        return None


def find_version(data_dir: Path, wanted: str, kind: str | None = None):
    """The version named by ``wanted``: a folder, an id, or an id's unique prefix."""
    from vectra_pipeline.datasets.kinds import KINDS, kind_of
    from vectra_pipeline.datasets.registry import load_version

    if Path(wanted).is_dir():
        return _load(load_version, Path(wanted))
    kinds = [kind_of(kind).name] if kind else list(KINDS)
    from vectra_pipeline import storage

    folders = [f for name in kinds for f in storage.version_folders(data_dir, name) if f.name.startswith(wanted)]
    matches = [_load(load_version, folder) for folder in folders]
    if not matches:
        raise VectraError(f"no dataset version {wanted!r} under {data_dir}; `vectra datasets --data {data_dir}` lists them")
    if len(matches) > 1:
        raise VectraError(f"{wanted!r} names {len(matches)} versions ({', '.join(v.id for v in matches)}): give more of the id")
    return matches[0]


def _load(load_version, folder: Path):
    try:
        return load_version(folder)
    except FileNotFoundError as error:
        raise VectraError(str(error)) from None
    except (ValueError, KeyError, OSError) as error:
        raise VectraError(f"{folder}: its manifest cannot be read ({type(error).__name__}); the version is damaged") from None


def show_text(version) -> str:
    """The version's summary and its card (re-rendered, with ``scores.json`` when present)."""
    from vectra_pipeline import storage
    from vectra_pipeline.datasets.card import SCORES, render_card
    from vectra_pipeline.datasets.registry import describe

    scores = storage.read_json(storage.location(version.path, SCORES))
    return f"{describe(version)}\n\n{render_card(version.manifest, scores)}"


def run(args: argparse.Namespace) -> int:
    from vectra_pipeline import storage

    data_dir = storage.data_root(args.data)
    try:
        with storage.store_errors(data_dir):
            if args.action == "list":
                if args.version:
                    raise VectraError("`vectra datasets list` takes no version; use `vectra datasets show ID`")
                print(list_text(data_dir, args.kind))
                return 0
            if not args.version:
                raise VectraError("which version? `vectra datasets show ID` (ids: `vectra datasets`)")
            print(show_text(find_version(data_dir, args.version, args.kind)))
    except ValueError as error:  # an unknown kind
        raise VectraError(str(error)) from None
    return 0
