"""monitor: `charmix monitor`, the terminal view of a running daemon.

Imports protocol, client and common; nothing of the daemon's own rooms.
A new row or counter on screen goes in view.py; what it reads in client/frames.py.
"""
