"""The simulator's game engine, pure: ``lifecycle.SimulatorEngine`` is the clock and what callers drive; beside it
``games`` (seed chain, price paths), ``requests`` (orders → trades, acks), ``payloads`` (frames and their key
orders), ``history`` (gameHistory, day statistics), ``rugpool``, ``wire`` (emissions, the frame encoder) and
``observer`` (the endless frame stream one observer receives)."""
