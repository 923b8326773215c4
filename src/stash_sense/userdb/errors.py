"""Errors of the user-state database."""

from __future__ import annotations


class UserDBError(Exception):
    """``stash_sense.db`` cannot be opened or migrated; the message says what to do."""
