"""A protocol-faithful rugs.fun simulator, an optional part of Vectra (``pip install 'vectra[simulator]'``): the pure
game engine (``engine``), background bots (``bots``), the Socket.IO server (``server``) and its play page
(``static/``), and the scripted player of the demo (``scripted_player``). The game's rules it plays by are the
protocol core's (``capture_agent.protocol.rules``, ``capture_agent.protocol.trading``). See README.md beside this
file."""
