"""``/settings``: the sidecar's effective settings, secrets shown only as set or unset."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, error_responses
from stash_sense.api.settings import ENV_VARS

router = APIRouter(tags=["settings"], responses=error_responses(*COMMON_ERRORS))


@router.get("/settings", summary="Effective settings (secrets hidden) and the variable that sets each")
async def effective_settings(sidecar: Sidecar = Depends(get_sidecar)) -> dict[str, Any]:
    return {"settings": sidecar.settings.describe(), "environment_variables": dict(ENV_VARS)}
