"""One module per subcommand; each has add_parser(subparsers) and run(args) -> int.

COMMAND_NAMES is the one list: main.py reads it to tell a subcommand from a compiler
without importing any command, and cli.py maps each name to its module."""

COMMAND_NAMES = ("stats", "trim", "config", "sweep", "explain", "doctor", "helper", "report")
