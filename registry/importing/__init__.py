"""Flexible import: any reasonable JSON document becomes a model version, after a preview.

The one service behind the import page and the import API, in four steps:

1. `parse`: the upload (one document, a JSON array of them, or several files) becomes
   documents, or a clear refusal (size, encoding, JSON, nesting, count);
2. `map`: each document onto the metadata schema: as it is if it is valid; else through the
   active LLM provider; else, or when the provider fails, the deterministic remapper;
3. `identity`: the model, task and version label it becomes, and where each came from;
4. `preview`: `import_preview` keeps the items in the cache under a token, writing nothing;
   `import_confirm` saves every ready item, with the raw document and how it was mapped.
"""

from registry.importing.identity import NEXT_FREE_LABEL, Identity, ImportOptions
from registry.importing.map import LLM_ATTEMPTS, LLM_MAX_CHARS
from registry.importing.parse import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_ITEMS,
    ImportRefused,
    ImportSource,
    json_parse,
    size_check,
)
from registry.importing.preview import (
    METHOD_LABELS,
    ImportOutcome,
    ImportPreview,
    OutcomeItem,
    PreviewItem,
    as_data,
    import_confirm,
    import_preview,
    import_preview_get,
)

__all__ = [
    "LLM_ATTEMPTS",
    "LLM_MAX_CHARS",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_ITEMS",
    "METHOD_LABELS",
    "NEXT_FREE_LABEL",
    "Identity",
    "ImportOptions",
    "ImportOutcome",
    "ImportPreview",
    "ImportRefused",
    "ImportSource",
    "OutcomeItem",
    "PreviewItem",
    "as_data",
    "import_confirm",
    "import_preview",
    "import_preview_get",
    "json_parse",
    "size_check",
]
