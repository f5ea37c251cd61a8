"""Print the differential run's statistics at the end of the pytest session."""

from __future__ import annotations

import pytest

from .report import COLLECTED, format_totals


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COLLECTED:
        terminalreporter.write_sep("=", "differential testing")
        terminalreporter.write_line(format_totals(COLLECTED))
