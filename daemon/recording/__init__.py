"""recording: the performance file — the writer the clock feeds and the crash-tolerant reader.

Imports protocol and engine only; live writes recordings, tools read them.
A new recorded event goes in writer.py and reader.py together (one FORMAT/VERSION).
"""
