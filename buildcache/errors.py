"""The one expected-error class of the CLI, mapped to exit code 1 by cli.run_cli."""

from __future__ import annotations


class FatalError(Exception):
    """An error the user can fix; its message says how."""


class ConfigError(FatalError):
    """A configuration value is invalid; the message names the variable."""

    def __init__(self, variable: str, value: str, problem: str) -> None:
        self.variable = variable
        self.value = value
        super().__init__(f"{variable}={value!r} is invalid: {problem}")
