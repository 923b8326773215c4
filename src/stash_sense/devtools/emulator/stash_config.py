"""Stash's configuration as the emulator answers it, and the ``configure*`` mutations that
Stash's web UI sends from its Settings pages.

``configuration`` answers every section with Stash's defaults (``internal/manager/config``),
plus what the emulator really has (the library folder, the API key, the stash-box endpoints,
the plugins folder) and what was saved: the UI's own settings (``configureUI`` /
``configureUISetting``), the interface and general settings the UI changes, the plugin package
sources and each plugin's settings (``configurePlugin``), kept in the state database. The UI
settings start with ``lastNoteSeen`` past the release notes of the Stash version the emulator
reports, so no release-notes dialog covers the page.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.stash_objects import context_of

# The UI shows a release-notes dialog until ui.lastNoteSeen reaches the newest note's date.
LAST_NOTE_SEEN = 20260111
_DEFAULT_UI: dict[str, Any] = {"lastNoteSeen": LAST_NOTE_SEEN}
_MENU_ITEMS = ["scenes", "images", "groups", "markers", "galleries", "performers", "studios", "tags"]

_DEFAULT_INTERFACE: dict[str, Any] = {
    "sfwContentMode": False, "menuItems": _MENU_ITEMS, "soundOnPreview": False, "wallShowTitle": True,
    "wallPlayback": "video", "showScrubber": True, "maximumLoopDuration": 0, "noBrowser": False,
    "notificationsEnabled": True, "autostartVideo": False, "autostartVideoOnPlaySelected": True,
    "continuePlaylistDefault": False, "showStudioAsText": False, "css": "", "cssEnabled": False,
    "javascript": "", "javascriptEnabled": False, "customLocales": "", "customLocalesEnabled": False,
    "language": "en-GB",
    "imageLightbox": {
        "slideshowDelay": 5000, "displayMode": "FIT_XY", "scaleUp": False, "resetZoomOnNav": False,
        "scrollMode": "ZOOM", "scrollAttemptsBeforeChange": 0, "disableAnimation": False,
    },
    "disableDropdownCreate": {"performer": False, "tag": False, "studio": False, "movie": False, "gallery": False},
    "handyKey": None,  # a key makes the UI call Handy's servers
    "funscriptOffset": 0, "useStashHostedFunscript": False,
}

# ConfigGeneralInput fields the emulator keeps (what the Settings pages the tests visit send);
# any other field is refused by name, so a test never passes on a setting that was not kept.
_GENERAL_KEPT = {"pluginPackageSources", "scraperPackageSources", "parallelTasks", "previewAudio", "logLevel", "pythonPath"}
_INTERFACE_KEPT = set(_DEFAULT_INTERFACE) - {"handyKey"}


def _general(info: GraphQLResolveInfo) -> dict[str, Any]:
    ctx = context_of(info)
    store = ctx.catalog.store
    saved = store.get_config("general", {})
    host = ctx.plugins
    state = ctx.catalog.state_dir
    general: dict[str, Any] = {
        "stashes": [{"path": str(ctx.catalog.library.root), "excludeVideo": False, "excludeImage": True}],
        "databasePath": str(store.path),
        "backupDirectoryPath": str(state / "backups"),
        "deleteTrashPath": "",
        "generatedPath": str(ctx.catalog.cache_dir),
        "metadataPath": str(state / "metadata"),
        "configFilePath": str(state / "config.yml"),
        "scrapersPath": str(state / "scrapers"),
        "pluginsPath": str(host.plugins_dir) if host is not None else str(state / "plugins"),
        "cachePath": str(state / "cache"),
        "blobsPath": str(state / "blobs"),
        "blobsStorage": "FILESYSTEM",
        "ffmpegPath": "ffmpeg",
        "ffprobePath": "ffprobe",
        "calculateMD5": True,
        "videoFileNamingAlgorithm": "OSHASH",
        "parallelTasks": 1,
        "previewAudio": True,
        "previewSegments": 12,
        "previewSegmentDuration": 0.75,
        "previewExcludeStart": "0",
        "previewExcludeEnd": "0",
        "previewPreset": "slow",
        "transcodeHardwareAcceleration": False,
        "maxTranscodeSize": None,
        "maxStreamingTranscodeSize": None,
        "transcodeInputArgs": [], "transcodeOutputArgs": [], "liveTranscodeInputArgs": [], "liveTranscodeOutputArgs": [],
        "drawFunscriptHeatmapRange": True,
        "writeImageThumbnails": True,
        "createImageClipsFromVideos": False,
        "apiKey": ctx.settings.api_key or "",
        "username": "", "password": "", "maxSessionAge": 3600,
        "logFile": None, "logOut": True, "logLevel": "Info", "logAccess": False, "logFileMaxSize": 0,
        "videoExtensions": ["m4v", "mp4", "mov", "wmv", "avi", "mpg", "mpeg", "rmvb", "rm", "flv", "asf", "mkv", "webm", "f4v"],
        "imageExtensions": ["png", "jpg", "jpeg", "gif", "webp", "avif"],
        "galleryExtensions": ["zip", "cbz"],
        "createGalleriesFromFolders": False,
        "galleryCoverRegex": r"(poster|cover|folder|board)\.[^\.]+$",
        "excludes": [], "imageExcludes": [],
        "customPerformerImageLocation": None,
        "stashBoxes": [dict(box) for box in ctx.settings.stash_boxes],
        "pythonPath": "",
        # The emulator never reaches the internet: no community source unless one is added.
        "scraperPackageSources": [],
        "pluginPackageSources": [],
    }
    general.update(copy.deepcopy(saved))
    return general


def _interface(info: GraphQLResolveInfo) -> dict[str, Any]:
    saved = context_of(info).catalog.store.get_config("interface", {})
    return {**copy.deepcopy(_DEFAULT_INTERFACE), **saved}


def _ui(info: GraphQLResolveInfo) -> dict[str, Any]:
    return {**_DEFAULT_UI, **context_of(info).catalog.store.get_config("ui", {})}


_DEFAULTS: dict[str, Any] = {
    "scan": {
        "scanGenerateCovers": True, "scanGeneratePreviews": True, "scanGenerateImagePreviews": False,
        "scanGenerateSprites": True, "scanGeneratePhashes": True, "scanGenerateThumbnails": True,
        "scanGenerateClipPreviews": False,
    },
    "identify": None,
    "autoTag": {"performers": ["*"], "studios": ["*"], "tags": ["*"]},
    "generate": {
        "covers": True, "sprites": True, "previews": True, "imagePreviews": False,
        "previewOptions": {
            "previewSegments": 12, "previewSegmentDuration": 0.75, "previewExcludeStart": "0",
            "previewExcludeEnd": "0", "previewPreset": "slow",
        },
        "markers": False, "markerImagePreviews": False, "markerScreenshots": False, "transcodes": False,
        "phashes": True, "interactiveHeatmapsSpeeds": False, "clipPreviews": False, "imageThumbnails": True,
    },
    "deleteFile": False,
    "deleteGenerated": True,
}


def _configuration(_root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "general": _general(info),
        "interface": _interface(info),
        "dlna": {
            "serverName": "", "enabled": False, "port": 1338, "whitelistedIPs": [], "interfaces": [],
            "videoSortOrder": "title",
        },
        "scraping": {"scraperUserAgent": None, "scraperCDPPath": None, "scraperCertCheck": True, "excludeTagPatterns": []},
        "defaults": copy.deepcopy(_DEFAULTS),
        "ui": _ui(info),
    }


def _refuse_unknown(input_: Mapping[str, Any], kept: set[str], mutation: str) -> None:
    unknown = sorted(k for k in input_ if k not in kept)
    if unknown:
        raise GraphQLError(f"{mutation}: the Stash emulator does not keep {', '.join(unknown)}")


def _configure_general(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
    # Stash's UI sends the whole section back; fields equal to what the emulator answers are not
    # changes, so only those that differ have to be kept.
    current = _general(info)
    changed = {k: v for k, v in input.items() if current.get(k, object()) != v}
    _refuse_unknown(changed, _GENERAL_KEPT, "configureGeneral")
    for source in changed.get("pluginPackageSources") or ():
        if not str(source.get("url") or "").strip():
            raise GraphQLError("configureGeneral: a package source needs a URL")
    store = context_of(info).catalog.store
    store.set_config("general", {**store.get_config("general", {}), **changed})
    return _general(info)


def _configure_interface(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
    current = _interface(info)
    changed = {k: v for k, v in input.items() if current.get(k, object()) != v}
    _refuse_unknown(changed, _INTERFACE_KEPT, "configureInterface")
    store = context_of(info).catalog.store
    store.set_config("interface", {**store.get_config("interface", {}), **changed})
    return _interface(info)


def _configure_ui(
    _root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any] | None = None, partial: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    store = context_of(info).catalog.store
    if input is not None:
        store.set_config("ui", dict(input))  # Stash replaces the whole map
    if partial is not None:
        store.set_config("ui", {**store.get_config("ui", {}), **partial})
    return _ui(info)


def _configure_ui_setting(_root: Any, info: GraphQLResolveInfo, key: str, value: Any = None) -> dict[str, Any]:
    # Stash's key is a dotted path into the UI map.
    store = context_of(info).catalog.store
    ui = store.get_config("ui", {})
    node = ui
    *parents, last = key.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value
    store.set_config("ui", ui)
    return _ui(info)


CONFIG_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "configuration"): _configuration,
    ("Mutation", "configureGeneral"): _configure_general,
    ("Mutation", "configureInterface"): _configure_interface,
    ("Mutation", "configureUI"): _configure_ui,
    ("Mutation", "configureUISetting"): _configure_ui_setting,
}
