"""live: the playing threads — controls, the clock, the performer, the OSC router, frames out.

Imports protocol, engine and recording; never runtime, oscquery or anything client-side.
A new input address's handler goes in dispatch.py; a new output in broadcast.py.
"""
