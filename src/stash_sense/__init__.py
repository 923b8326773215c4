"""Stash Sense: performer identification by face recognition for Stash."""

from importlib.metadata import PackageNotFoundError, version

try:
    # One source of truth: the version in pyproject.toml, as installed (wheel or editable).
    __version__ = version("stash-sense")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
