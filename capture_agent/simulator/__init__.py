"""A protocol-faithful rugs.fun simulator: pure game engine (``engine``), trade rules (``trading``), payload
shapes (``frames``), background bots (``bots``), the Socket.IO server (``server``) and its play page (``static/``).
See README.md beside this file."""
