"""The GraphQL documents of the recommendations engine: library listings for the analyzers and
the merge / delete mutations of the review actions.

Kept apart from :mod:`stash_sense.stash.documents` so the two can grow independently;
``tests/test_library_documents.py`` validates every document here against the real Stash
schema, exactly as the main documents are checked.
"""

from __future__ import annotations

from stash_sense.stash.documents import Document, Target


def _stash(name: str, operation: str) -> Document:
    return Document(name, Target.STASH, operation)


# Everything the duplicate analyzers compare, and nothing more (no streams, no paths of
# generated media): a page of 1000 scenes stays small.
ANALYSIS_SCENES = _stash(
    "AnalysisScenes",
    """
query AnalysisScenes($scene_filter: SceneFilterType, $filter: FindFilterType) {
  findScenes(scene_filter: $scene_filter, filter: $filter) {
    count
    scenes {
      id
      title
      date
      updated_at
      studio {
        id
      }
      performers {
        id
      }
      stash_ids {
        endpoint
        stash_id
      }
      files {
        id
        path
        size
        width
        height
        duration
        bit_rate
        video_codec
        fingerprints {
          type
          value
        }
      }
    }
  }
}
""",
)

ANALYSIS_SCENE_IDS = _stash(
    "AnalysisSceneIds",
    """
query AnalysisSceneIds($filter: FindFilterType) {
  findScenes(filter: $filter) {
    count
    scenes {
      id
    }
  }
}
""",
)

ANALYSIS_PERFORMERS = _stash(
    "AnalysisPerformers",
    """
query AnalysisPerformers($filter: FindFilterType) {
  findPerformers(filter: $filter) {
    count
    performers {
      id
      name
      disambiguation
      alias_list
      updated_at
      scene_count
      image_count
      gallery_count
      image_path
      stash_ids {
        endpoint
        stash_id
      }
    }
  }
}
""",
)

PERFORMER_MERGE = _stash(
    "PerformerMerge",
    """
mutation PerformerMerge($source: [ID!]!, $destination: ID!) {
  performerMerge(input: { source: $source, destination: $destination }) {
    id
    name
    scene_count
  }
}
""",
)

SCENE_MERGE = _stash(
    "SceneMerge",
    """
mutation SceneMerge($source: [ID!]!, $destination: ID!) {
  sceneMerge(input: { source: $source, destination: $destination, play_history: true, o_history: true }) {
    id
    files {
      id
    }
  }
}
""",
)

DELETE_FILES = _stash(
    "DeleteFiles",
    """
mutation DeleteFiles($ids: [ID!]!) {
  deleteFiles(ids: $ids)
}
""",
)

SCENE_FILES = _stash(
    "SceneFiles",
    """
query SceneFiles($id: ID!) {
  findScene(id: $id) {
    id
    files {
      id
      path
      size
      width
      height
      duration
      bit_rate
      video_codec
    }
  }
}
""",
)

# Where Stash keeps a scene's generated sprite sheet and its VTT index (81 thumbnails).
SCENE_SPRITE_PATHS = _stash(
    "SceneSpritePaths",
    """
query SceneSpritePaths($id: ID!) {
  findScene(id: $id) {
    id
    paths {
      sprite
      vtt
    }
  }
}
""",
)


def all_documents() -> dict[str, Document]:
    return {name: value for name, value in globals().items() if isinstance(value, Document)}
