"""oscquery: the daemon seen from a browsing tool — OSCQuery HTTP/WebSocket and mDNS advertising.

Imports protocol and live (the dispatcher and counters); started and stopped by runtime.
A new OSCQuery attribute or extension goes in namespace.py.
"""
