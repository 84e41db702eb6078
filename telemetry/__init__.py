"""What every layer reports about its work: the current request's record, metrics and spans.

The lowest layer: it imports nothing of ours, so loaders, auth, events, resolvers and schema
can all report through it. `server` turns the reports into `/metrics`, the access log and
exported traces.
"""
