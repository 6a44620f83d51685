"""A client twin: the only client code with I/O (`_client`, `_token_manager`).

`runrgateway/_async/` is written by hand; `runrgateway/_sync/` is generated from it by
`scripts/unasync.py` and never edited. Code here must be what unasync can translate,
and never logic without I/O, which lives once at package level.
"""
