"""client: everything that talks to a daemon from outside — discovery, following, the link, frames.

Imports protocol and common only: bridges, the monitor and tools may import it; the daemon never.
A new way to find or follow a daemon goes here.
"""
