"""tools: offline commands — models/sample, replay, render, discover, service.

May import any daemon room (they reuse the engine, recordings, config), never controllers.
A new offline command is a module here with register(app), listed in daemon/cli.py.
"""
