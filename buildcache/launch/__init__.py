"""The launch server and its client: one resident Python per user and install that
forks a ready child per rustc call, so a call no longer pays for starting Python and
importing the hot path (docs/how-it-works.md, "The launch client")."""
