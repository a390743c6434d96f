"""The reliability run: load, faults and hostile input against real processes.

``scripts/stress`` (or ``.venv/bin/python -m stress``) runs it; docs/reliability.md lists
each scenario, the figure it prints and the command that reproduces it.
"""
