"""The part of Stash's GraphQL API that the emulator implements, as one resolver table."""

from __future__ import annotations

from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.packages import PACKAGE_RESOLVERS
from stash_sense.devtools.emulator.plugins import PLUGIN_RESOLVERS
from stash_sense.devtools.emulator.stash_config import CONFIG_RESOLVERS
from stash_sense.devtools.emulator.stash_mutations import MUTATION_RESOLVERS
from stash_sense.devtools.emulator.stash_objects import (
    DEFAULT_STASH_BOXES,
    OBJECT_RESOLVERS,
    StashContext,
    StashSettings,
)
from stash_sense.devtools.emulator.stash_merge_mutations import MERGE_MUTATION_RESOLVERS
from stash_sense.devtools.emulator.stash_queries import QUERY_RESOLVERS

__all__ = ["DEFAULT_STASH_BOXES", "RESOLVERS", "StashContext", "StashSettings"]

RESOLVERS: dict[tuple[str, str], Resolver] = {
    **OBJECT_RESOLVERS, **QUERY_RESOLVERS, **MUTATION_RESOLVERS, **PLUGIN_RESOLVERS,
    **MERGE_MUTATION_RESOLVERS, **CONFIG_RESOLVERS, **PACKAGE_RESOLVERS,
}
