"""Which episodes a dataset trains on: :class:`EpisodePolicy`, applied to the episode columns every kind shares.

An episode the policy does not train on stays in its episodes table with its ``exclusion_reason`` (the first that
applies): ``no ticks`` | ``no recording player`` (the player kind: a public socket records no account) | ``never on
a board`` (the crowd kind: seen in trades only) |
``completeness <c>`` | ``gap at tick <t>`` | ``too short``. Each dataset kind has its default policy
(``datasets.kinds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class EpisodePolicy:
    """Which episodes go into training. Default: complete games with at least one transition and a recording player."""

    train_completeness: frozenset[str] = field(default_factory=lambda: frozenset({"complete"}))
    min_transitions: int = 1
    require_player: bool = True
    require_board: bool = False  # the crowd kind: a player no board listed has no state to learn from

    def as_dict(self) -> dict:
        return {"train_completeness": sorted(self.train_completeness), "min_transitions": self.min_transitions,
                "require_player": self.require_player, "require_board": self.require_board}


def apply_policy(episodes: pl.DataFrame, policy: EpisodePolicy) -> pl.DataFrame:
    """(Re)compute ``exclusion_reason`` and ``in_training`` from the episode columns and the policy.

    ``episodes`` needs ``ticks``, ``completeness``, ``first_gap_tick``, ``transitions`` and, when the policy requires
    a player, ``player_id``; a board, ``board_ticks``.
    """
    reason = pl.when(pl.col("ticks") == 0).then(pl.lit("no ticks"))
    if policy.require_player:
        reason = reason.when(pl.col("player_id").is_null()).then(pl.lit("no recording player"))
    if policy.require_board:
        reason = reason.when(pl.col("board_ticks") == 0).then(pl.lit("never on a board"))
    reason = (
        reason.when(~pl.col("completeness").is_in(sorted(policy.train_completeness))).then(pl.lit("completeness ") + pl.col("completeness"))
        .when(pl.col("first_gap_tick").is_not_null()).then(pl.lit("gap at tick ") + pl.col("first_gap_tick").cast(pl.String))
        .when(pl.col("transitions") < policy.min_transitions).then(pl.lit("too short"))
    )
    return episodes.with_columns(reason.alias("exclusion_reason")).with_columns(
        pl.col("exclusion_reason").is_null().alias("in_training")
    )
