"""The application layer: each use case written once.

The CLI, the API routes, the bulk fingerprint job and (through the API) the plugin and the
dashboard call these functions; none of them keeps its own copy of a rule. Resolving who a
face-DB identity is in Stash (:mod:`.resolution`), identifying a Stash scene with the
tagged-performer boost (:mod:`.stash_scene`) and adding or creating performers
(:mod:`.performers`) live here. The layer sits above ``stash/``, ``scenes/`` and ``facedb/``
and below ``api/`` and ``cli/``; it knows nothing of HTTP (failures are :class:`UseCaseError`).
"""

from .errors import UseCaseError
from .resolution import IdentityResolver, Resolution, ResolvedPerformer

__all__ = ["IdentityResolver", "Resolution", "ResolvedPerformer", "UseCaseError"]
