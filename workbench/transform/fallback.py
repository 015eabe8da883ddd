"""Fallback when ``torch.fx`` cannot trace a model (placeholder: refuses with the tracer's reason)."""

from __future__ import annotations

from typing import Any

from torch import nn

from workbench.errors import ExtractionError
from workbench.transform.blocks import Extraction, Ids

__all__ = ["follow_eager"]


def follow_eager(ctx: Extraction, model: nn.Module, x: Ids, *, reason: Exception) -> Any:
    raise ExtractionError(f"cannot follow the data flow of {type(model).__name__}: torch.fx tracing failed: {reason}")
