"""Every GraphQL document Stash Sense sends, in one place.

The clients only accept :class:`Document` objects, never ad-hoc strings, and
``tests/test_stash_documents.py`` finds every ``Document`` in this module and validates it against
the real Stash (or stash-box) schema. To send something new, add a constant here: it is then
checked automatically.

Field names follow Stash at v0.30 (``files``/``frame_rate``/``bit_rate``, ``alias_list``,
``sceneStreams``) and stash-box v0.10 (``aliases``, ``images``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Target(StrEnum):
    """Which server's schema a document is written against."""

    STASH = "stash"
    STASHBOX = "stash-box"


@dataclass(frozen=True)
class Fragment:
    name: str
    body: str
    requires: tuple[Fragment, ...] = ()

    def closure(self) -> list[Fragment]:
        """This fragment and everything it spreads, dependencies first, without duplicates."""
        out: list[Fragment] = []
        for dep in self.requires:
            for frag in dep.closure():
                if frag not in out:
                    out.append(frag)
        out.append(self)
        return out


@dataclass(frozen=True)
class Document:
    """One named GraphQL operation plus the fragments it uses."""

    name: str
    target: Target
    operation: str
    fragments: tuple[Fragment, ...] = ()

    @property
    def source(self) -> str:
        """The full text sent over the wire."""
        frags: list[Fragment] = []
        for fragment in self.fragments:
            for frag in fragment.closure():
                if frag not in frags:
                    frags.append(frag)
        return "\n".join([self.operation.strip(), *(f.body.strip() for f in frags)]) + "\n"

    @property
    def is_mutation(self) -> bool:
        return self.operation.lstrip().startswith("mutation")


def _stash(name: str, operation: str, *fragments: Fragment) -> Document:
    return Document(name, Target.STASH, operation, fragments)


def _stashbox(name: str, operation: str, *fragments: Fragment) -> Document:
    return Document(name, Target.STASHBOX, operation, fragments)


# ---------------------------------------------------------------------------------------------
# Stash fragments

STASH_ID_FIELDS = Fragment(
    "StashIDFields",
    """
fragment StashIDFields on StashID {
  endpoint
  stash_id
}
""",
)

VIDEO_FILE_FIELDS = Fragment(
    "VideoFileFields",
    """
fragment VideoFileFields on VideoFile {
  id
  path
  basename
  size
  width
  height
  duration
  frame_rate
  bit_rate
  video_codec
  fingerprints {
    type
    value
  }
}
""",
)

SCENE_PERFORMER_FIELDS = Fragment(
    "ScenePerformerFields",
    """
fragment ScenePerformerFields on Performer {
  id
  name
  disambiguation
  gender
  stash_ids {
    ...StashIDFields
  }
}
""",
    (STASH_ID_FIELDS,),
)

SCENE_FIELDS = Fragment(
    "SceneFields",
    """
fragment SceneFields on Scene {
  id
  title
  date
  organized
  updated_at
  files {
    ...VideoFileFields
  }
  paths {
    screenshot
    preview
    stream
    sprite
    vtt
  }
  stash_ids {
    ...StashIDFields
  }
  performers {
    ...ScenePerformerFields
  }
  sceneStreams {
    url
    mime_type
    label
  }
}
""",
    (VIDEO_FILE_FIELDS, STASH_ID_FIELDS, SCENE_PERFORMER_FIELDS),
)

PERFORMER_FIELDS = Fragment(
    "PerformerFields",
    """
fragment PerformerFields on Performer {
  id
  name
  disambiguation
  gender
  country
  alias_list
  image_path
  scene_count
  stash_ids {
    ...StashIDFields
  }
}
""",
    (STASH_ID_FIELDS,),
)

TAG_FIELDS = Fragment(
    "TagFields",
    """
fragment TagFields on Tag {
  id
  name
  aliases
}
""",
)

# ---------------------------------------------------------------------------------------------
# Stash queries

VERSION = _stash(
    "Version",
    """
query Version {
  version {
    version
    hash
    build_time
  }
}
""",
)

STASH_BOX_CONFIGS = _stash(
    "StashBoxConfigs",
    """
query StashBoxConfigs {
  configuration {
    general {
      stashBoxes {
        endpoint
        api_key
        name
        max_requests_per_minute
      }
    }
  }
}
""",
)

FIND_SCENES = _stash(
    "FindScenes",
    """
query FindScenes($scene_filter: SceneFilterType, $filter: FindFilterType) {
  findScenes(scene_filter: $scene_filter, filter: $filter) {
    count
    scenes {
      ...SceneFields
    }
  }
}
""",
    SCENE_FIELDS,
)

COUNT_SCENES = _stash(
    "CountScenes",
    """
query CountScenes($scene_filter: SceneFilterType, $filter: FindFilterType) {
  findScenes(scene_filter: $scene_filter, filter: $filter) {
    count
  }
}
""",
)

FIND_SCENE = _stash(
    "FindScene",
    """
query FindScene($id: ID!) {
  findScene(id: $id) {
    ...SceneFields
  }
}
""",
    SCENE_FIELDS,
)

FIND_PERFORMERS = _stash(
    "FindPerformers",
    """
query FindPerformers($performer_filter: PerformerFilterType, $filter: FindFilterType) {
  findPerformers(performer_filter: $performer_filter, filter: $filter) {
    count
    performers {
      ...PerformerFields
    }
  }
}
""",
    PERFORMER_FIELDS,
)

FIND_PERFORMER = _stash(
    "FindPerformer",
    """
query FindPerformer($id: ID!) {
  findPerformer(id: $id) {
    ...PerformerFields
  }
}
""",
    PERFORMER_FIELDS,
)

# Tag names are unique in Stash and a new tag may not reuse another tag's alias, so look for
# both before creating one.
FIND_TAGS_BY_NAME = _stash(
    "FindTagsByName",
    """
query FindTagsByName($name: String!) {
  findTags(
    tag_filter: { name: { value: $name, modifier: EQUALS }, OR: { aliases: { value: $name, modifier: EQUALS } } }
    filter: { per_page: -1 }
  ) {
    count
    tags {
      ...TagFields
    }
  }
}
""",
    TAG_FIELDS,
)

# ---------------------------------------------------------------------------------------------
# Stash mutations

# mode ADD appends to each scene's performers without reading them first (sceneUpdate's
# performer_ids would replace the list).
BULK_SCENE_ADD_PERFORMERS = _stash(
    "BulkSceneAddPerformers",
    """
mutation BulkSceneAddPerformers($ids: [ID!]!, $performer_ids: [ID!]!) {
  bulkSceneUpdate(input: { ids: $ids, performer_ids: { ids: $performer_ids, mode: ADD } }) {
    id
    performers {
      id
    }
  }
}
""",
)

PERFORMER_CREATE = _stash(
    "PerformerCreate",
    """
mutation PerformerCreate($input: PerformerCreateInput!) {
  performerCreate(input: $input) {
    ...PerformerFields
  }
}
""",
    PERFORMER_FIELDS,
)

TAG_CREATE = _stash(
    "TagCreate",
    """
mutation TagCreate($input: TagCreateInput!) {
  tagCreate(input: $input) {
    ...TagFields
  }
}
""",
    TAG_FIELDS,
)

# ---------------------------------------------------------------------------------------------
# stash-box

STASHBOX_PERFORMER_FIELDS = Fragment(
    "StashBoxPerformerFields",
    """
fragment StashBoxPerformerFields on Performer {
  id
  name
  disambiguation
  aliases
  gender
  country
  deleted
  merged_into_id
  images {
    id
    url
    width
    height
  }
}
""",
)

STASHBOX_FIND_PERFORMER = _stashbox(
    "StashBoxFindPerformer",
    """
query StashBoxFindPerformer($id: ID!) {
  findPerformer(id: $id) {
    ...StashBoxPerformerFields
  }
}
""",
    STASHBOX_PERFORMER_FIELDS,
)


# The crawl's listing: everything a face DB keeps about a performer, a page at a time.
STASHBOX_CRAWL_PERFORMER_FIELDS = Fragment(
    "StashBoxCrawlPerformerFields",
    """
fragment StashBoxCrawlPerformerFields on Performer {
  ...StashBoxPerformerFields
  merged_ids
  updated
  urls {
    url
  }
}
""",
    (STASHBOX_PERFORMER_FIELDS,),
)

STASHBOX_QUERY_PERFORMERS = _stashbox(
    "StashBoxQueryPerformers",
    """
query StashBoxQueryPerformers($input: PerformerQueryInput!) {
  queryPerformers(input: $input) {
    count
    performers {
      ...StashBoxCrawlPerformerFields
    }
  }
}
""",
    STASHBOX_CRAWL_PERFORMER_FIELDS,
)

# Only ids: the cheap sweep that finds performers deleted since the last crawl.
STASHBOX_PERFORMER_IDS = _stashbox(
    "StashBoxPerformerIds",
    """
query StashBoxPerformerIds($input: PerformerQueryInput!) {
  queryPerformers(input: $input) {
    count
    performers {
      id
    }
  }
}
""",
)


def all_documents() -> dict[str, Document]:
    """Every document defined in this module, by constant name."""
    return {name: value for name, value in globals().items() if isinstance(value, Document)}
