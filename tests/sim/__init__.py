"""Sonarr/Radarr API v3 simulator for integration tests (see arr.py)."""

from sim.arr import ArrSimulator, Recorded

__all__ = ["ArrSimulator", "Recorded"]
