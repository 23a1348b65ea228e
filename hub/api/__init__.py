"""The hub's management API (/api/v1/): projects, members, sources, runs, tokens, audit."""
