"""Errors raised by the face database layer.

Every error carries a message meant for the person running the command: what is wrong, where,
and what to do about it. The CLI prints ``str(error)`` without a traceback.
"""

from __future__ import annotations


class FaceDBError(Exception):
    """Base class for every face-DB problem the user can act on."""


class FaceDBNotFoundError(FaceDBError):
    """The DB directory, or one of its files, does not exist."""


class FaceDBCorruptError(FaceDBError):
    """A DB file exists but cannot be read, does not parse, or disagrees with the manifest."""


class UnsupportedFormatError(FaceDBError):
    """The DB was written by a newer (or unknown) format version than this program reads."""


class ModelMismatchError(FaceDBError):
    """Embeddings from one model were about to be compared with, or added to, another model's DB."""


class IdentityConflictError(FaceDBError, ValueError):
    """Two identities given for one performer already belong to two different performers."""


class FaceDBExistsError(FaceDBError):
    """The output directory already holds files that would be overwritten."""


class EmbedderUnavailableError(FaceDBError):
    """The DB was built with an embedder that this installation cannot run (model not installed,
    or unknown to this version)."""
