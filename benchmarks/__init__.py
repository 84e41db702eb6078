"""The load benchmark of the read side against a hand-written floor (see README.md)."""
