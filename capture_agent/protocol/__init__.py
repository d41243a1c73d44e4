"""Sans-I/O core of the rugs.fun protocol: wire codec, provably-fair prices, game-state semantics.

Nothing in this package touches sockets, files or clocks; everything is a pure function or a class
driven by its caller, so it is tested alone and shared by the simulator, the capture agent and the pipeline.
"""
