"""The dataset kinds: what each is made of, whose behaviour it holds, and what its reward means.

A version of kind ``k`` lives in ``<data>/datasets/<k>/<id>/`` and is made from that kind's gold tables (every
kind from the same silver). An episode is one game (player, market) or one (game, player) (crowd); splits are by
game for every kind. Each kind has its default episode policy (:mod:`vectra_pipeline.gold.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass

from vectra_pipeline.gold.crowd import CROWD_POLICY
from vectra_pipeline.gold.episodes import PLAYER_POLICY
from vectra_pipeline.gold.feature_spec import feature_names, float64_features
from vectra_pipeline.gold.market import MARKET_POLICY
from vectra_pipeline.gold.policy import EpisodePolicy


@dataclass(frozen=True)
class Kind:
    name: str
    episodes: str  # its gold tables
    observations: str
    dataset_episodes: str  # its dataset tables (files of a version)
    dataset_observations: str
    policy: EpisodePolicy
    behaviour: str  # whose behaviour the actions are, for the card
    reward: str  # what the reward is, for the card
    key: tuple[str, ...] = ("game_id",)  # what one episode is (splits are always by game)

    @property
    def features(self) -> tuple[str, ...]:
        return feature_names(self.name)

    @property
    def float64_features(self) -> tuple[str, ...]:
        return float64_features(self.name)


KINDS: dict[str, Kind] = {
    "player": Kind(
        "player", "episodes", "observations", "dataset_episodes", "dataset_observations", PLAYER_POLICY,
        "the recording player's own orders (an authenticated capture); games no account recorded are excluded",
        "equity(t+1) − equity(t) in SOL, mark-to-market (cash + position at the tick price + sidebet + short); the "
        "account carries across consecutive games of a capture, so an episode's rewards sum to its equity change",
    ),
    "crowd": Kind(
        "crowd", "crowd_episodes", "crowd_observations", "dataset_crowd_episodes", "dataset_crowd_observations",
        CROWD_POLICY,
        "every player the frames show (one trajectory per game and player): their leaderboard state every tick, their "
        "broadcast trades and side bets as actions; a position change no trade seen explains is flagged "
        "(unexplained_qty), never invented; the feed shows only part of the trades on the real site (coverage)",
        "pnl(t+1) − pnl(t) in SOL, the player's game P&L of the board (carried while off the board, paid when seen "
        "again); a trajectory's rewards sum to its last known P&L minus its first",
        key=("game_id", "player_id"),
    ),
    "market": Kind(
        "market", "market_episodes", "market_observations", "dataset_market_episodes", "dataset_market_observations",
        MARKET_POLICY,
        "nobody's: the market alone (action is always 0, hold); live games and history-only games (a gameHistory "
        "price path never seen live, history_only)",
        "ln(price(t+1) / price(t)): the log return of holding through the transition; an episode's rewards sum to "
        "ln(last price / first price)",
    ),
}
DEFAULT_KIND = "player"


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown dataset kind {name!r}; expected one of {', '.join(KINDS)}") from None
