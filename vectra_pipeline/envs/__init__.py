"""Gymnasium environments over the datasets, registered on ``import vectra_pipeline.envs`` (checker on):

- ``vectra/Replay-v0`` (:mod:`.replay`): the recorded games of a dataset version's split, replayed with the agent's
  own practice account;
- ``vectra/Sim-v0`` (:mod:`.sim`): fresh provably-fair games with the same observations, actions, fills and reward;
  ``gym.make_vec("vectra/Sim-v0", num_envs=n)`` is its vector form.

Both trade through :mod:`.agents` with the spaces of :mod:`.spaces`, the ones every export uses.
"""

import gymnasium as gym

REPLAY_ENV_ID = "vectra/Replay-v0"
SIM_ENV_ID = "vectra/Sim-v0"

gym.register(REPLAY_ENV_ID, entry_point="vectra_pipeline.envs.replay:VectraReplayEnv")
gym.register(SIM_ENV_ID, entry_point="vectra_pipeline.envs.sim:VectraSimEnv",
             vector_entry_point="vectra_pipeline.envs.sim:VectraSimVectorEnv")
