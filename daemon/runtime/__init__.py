"""runtime: the composition root — the `daemon` command, config, start-up, state, status.

The one room that imports and wires up everything of the daemon (engine, live, recording,
oscquery); nothing imports it but tools/. A new daemon flag goes in config.py (and its TOML key).
"""
