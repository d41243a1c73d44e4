from capture_agent.protocol.rules import Phase
from simulator.scripted_player import Click, PageView, ScriptedPlayer


def _play_game(player: ScriptedPlayer, game_id: str, last_tick: int = 40) -> list[Click]:
    clicks = []
    for phase in (Phase.COOLDOWN, Phase.PRESALE):
        clicks += player.decide(PageView(game_id, phase, None))
    for tick in range(last_tick + 1):
        clicks += player.decide(PageView(game_id, Phase.ACTIVE, tick))
        clicks += player.decide(PageView(game_id, Phase.ACTIVE, tick))  # the page is polled faster than it ticks
    clicks += player.decide(PageView(game_id, Phase.RUGGED, last_tick))
    return clicks


def test_each_step_fires_once_per_game_and_every_action_kind_appears():
    player = ScriptedPlayer()
    games = [_play_game(player, f"20261124-{i:016x}") for i in range(6)]
    for clicks in games:
        selectors = [c.selector for c in clicks]
        assert selectors.count("#sell-100") == 1
        assert selectors.index("#buy") < selectors.index("#sell-25") < selectors.index("#sell-50")
    everything = {c.selector for clicks in games for c in clicks}
    assert everything == {"#buy", "#sell-25", "#sell-50", "#sell-100", "#sidebet", "#short-open", "#short-close"}
    assert games[0][0] == Click("#buy", "0.1")  # first game buys in presale


def test_nothing_is_clicked_outside_a_game_or_in_a_short_game():
    player = ScriptedPlayer()
    assert player.decide(PageView("20261124-0000000000000001", Phase.COOLDOWN, None)) == []
    clicks = _play_game(player, "20261124-0000000000000002", last_tick=1)  # rugs at tick 1: an odd game
    assert clicks == []


def test_every_control_clicked_is_an_order_kind_downstream():
    from vectra_pipeline.silver.actions import click_kind

    player = ScriptedPlayer()
    clicked = {c.selector for i in range(12) for c in _play_game(player, f"20261124-{i:016x}")}
    assert all(click_kind({"id": selector.removeprefix("#")}) for selector in clicked), clicked


def test_page_texts_become_views_only_once_the_page_shows_a_game():
    from simulator.scripted_player import read_view

    assert read_view("", "–", "–") is None  # not connected yet
    assert read_view("20261124-00000000000000aa", "PRESALE", "–") == PageView("20261124-00000000000000aa", Phase.PRESALE, None)
    assert read_view("20261124-00000000000000aa", "ACTIVE", "17").tick == 17


def test_a_game_joined_mid_way_still_starts_with_a_buy():
    player = ScriptedPlayer()
    clicks = player.decide(PageView("20261124-00000000000000bb", Phase.ACTIVE, 30))
    assert clicks[0] == Click("#buy", "0.05")
