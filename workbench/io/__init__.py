"""Graph files and model checkpoints.

* :mod:`workbench.io.graphs`: graphs as GraphML or node-link JSON, with node
  labels (ints, strings, tuples; :mod:`workbench.io.labels`), attributes and
  node order kept exactly; GraphML is read by :mod:`workbench.io.graphml_reader`.
* :mod:`workbench.io.checkpoints`: ``MaskedDeepFFN`` / ``MaskedDeepDAN``
  checkpoints (architecture, weights, bool masks, metadata) that load with
  ``torch.load(weights_only=True)``, so reading one never runs code, and carry
  a checksum (:mod:`workbench.io.checksum`), so a corrupted one is refused.
* :mod:`workbench.io.jsonsafe`: JSON from untrusted input, its nesting
  measured before it is parsed.

Malformed input raises :class:`~workbench.errors.GraphFileError` or
:class:`~workbench.errors.CheckpointError` naming the problem and the file;
input over the size limits (:class:`~workbench.limits.Limits`) raises
:class:`~workbench.errors.LimitError` before it is parsed or built.

Example:
    >>> from workbench import io as wbio
    >>> wbio.save_graph(workbench.graph.grid_2d(3, 3), "grid.graphml")
    >>> graph = wbio.load_graph("grid.graphml", require_dag=True)
    >>> wbio.save_checkpoint(MaskedDeepDAN(64, 10, graph), "grid.pt", extra={"dataset": "digits"})
    >>> model, extra = wbio.load_checkpoint("grid.pt")
"""

from workbench.io.checkpoints import (
    ACTIVATIONS,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    checkpoint_checksum,
    checkpoint_from_bytes,
    checkpoint_to_bytes,
    load_checkpoint,
    model_from_spec,
    model_spec,
    save_checkpoint,
)
from workbench.io.graphs import (
    GRAPH_FORMATS,
    LABEL_ATTRIBUTE,
    GraphFormat,
    decode_label,
    encode_label,
    format_of,
    graph_from_bytes,
    graph_to_bytes,
    load_graph,
    save_graph,
)

__all__ = [
    "ACTIVATIONS",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "GRAPH_FORMATS",
    "LABEL_ATTRIBUTE",
    "GraphFormat",
    "checkpoint_checksum",
    "checkpoint_from_bytes",
    "checkpoint_to_bytes",
    "decode_label",
    "encode_label",
    "format_of",
    "graph_from_bytes",
    "graph_to_bytes",
    "load_checkpoint",
    "load_graph",
    "model_from_spec",
    "model_spec",
    "save_checkpoint",
    "save_graph",
]
