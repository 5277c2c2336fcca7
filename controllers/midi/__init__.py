"""midi: `charmix midi` — faders and pads to controls (bridge), layouts as TOML, MIDI clock in.

Imports protocol, client and common (as every controller) and controllers.sender.
A new default mapping goes in layout.py; a new MIDI message kind in bridge.py.
"""
