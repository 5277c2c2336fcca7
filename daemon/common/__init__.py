"""common: what every charmix process shares that is not the protocol — signals, failing.

Imports nothing from charmix (stdlib and typer only); anything may import it.
Keep it small: a helper belongs here only when three rooms need it.
"""
