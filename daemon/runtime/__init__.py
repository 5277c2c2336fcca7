"""runtime: the composition root — the `daemon` command, config, start-up, state, status.

The one room that builds everything else (engine, live, recording, oscquery) and wires it up.
A new daemon flag goes in config.py (and its TOML key with it).
"""
