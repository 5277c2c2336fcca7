"""web: `charmix web`, the phone page — the bridge (aiohttp), who steers, the frame feed, static/.

Imports protocol, client and common (as every controller) and controllers.mapping/sender.
A new page element goes in static/; a new rule for many hands in control.py.
"""
