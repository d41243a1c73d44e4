"""Sans-I/O core of the rugs.fun protocol: the wire, the game's rules, provably-fair prices.

Nothing in this package touches sockets, files or clocks; everything is a pure function or a class driven by its
caller, so it is tested alone and shared by the simulator, the capture agent and the pipeline:

- ``jsjson`` JSON exactly as JavaScript reads and writes it; ``engineio`` Engine.IO packets and polling bodies;
  ``socketio`` Socket.IO packets (events, acks, attachments, trace arguments) and whole-frame decoding;
  ``client`` the client side of one connection (handshake, heartbeat, reconnect backoff);
- ``rules`` the game's rules, once: phases and their order, timing, event names, trade limits, lamports, the side
  bet, the short, the rug, equity; ``trading`` the practice account and its trades;
- ``game`` what a ``gameStateUpdate`` payload says (phase, frame shape, rug tick);
- ``fairness`` the provably-fair price path; ``recordings`` frames rebuilt from normalised real captures.
"""
