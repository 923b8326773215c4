"""Stash Sense: performer identification by face recognition for Stash."""

__version__ = "0.1.0"
