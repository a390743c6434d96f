"""``mcproxyctl``: the operators' command line for the runbook's procedures."""

from mcproxy.ctl.cli import main

__all__ = ["main"]
