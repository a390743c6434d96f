"""Fault drills."""
