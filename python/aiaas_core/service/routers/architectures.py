"""The architectures catalog."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..catalog import CATALOG
from ..schemas import ArchitectureOut
from ..security import Principal, require

router = APIRouter(prefix="/v1", tags=["architectures"])


@router.get("/architectures", response_model=list[ArchitectureOut])
def list_architectures(_p: Principal = Depends(require("predict"))) -> list[ArchitectureOut]:
    """Named architectures with their hyperparameters as JSON schema. A job may instead send a
    model config object (the JSON `model.save` writes)."""
    return [ArchitectureOut(name=a.name, description=a.description, hyperparameters_schema=a.schema())
            for a in CATALOG.values()]
