"""VISA resource strings, checked by labmon's shared rule: the same for the rigol, scpi and pymeasure types."""

from labmon import resource_problem

__all__ = ["resource_problem"]
