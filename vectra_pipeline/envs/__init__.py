"""Gymnasium environments over the datasets, registered on ``import vectra_pipeline.envs``.

- ``vectra/Replay-v0`` (:mod:`.replay`): the recorded games of a dataset version, replayed with the agent's own
  practice account.

Their observation and action spaces are :mod:`.spaces`, the ones every export uses.
"""

import gymnasium as gym

REPLAY_ENV_ID = "vectra/Replay-v0"

gym.register(REPLAY_ENV_ID, entry_point="vectra_pipeline.envs.replay:VectraReplayEnv", disable_env_checker=True)
