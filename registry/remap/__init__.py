"""The deterministic remapper: puts a model-metadata document with other key names onto the schema.

Pure Python, no Django: the importer calls it with `registry.schema.METADATA_SCHEMA` when the
document is not valid as it is and no LLM could remap it. It walks the document against the
schema and, for every key, tries in turn: the same name after normalisation (camelCase,
kebab-case, spaces), a synonym (`model_performance` -> `metrics`, `auc` -> `auc_roc`), the
name without a `test_`/`val_` prefix or `_score` suffix, a field of a sub-section one level
down (`accuracy` at the top goes to `metrics.accuracy`), and finally a search inside an
unknown wrapper (`{"model": {"evaluation": {...}}}`). Numeric strings become numbers where
the schema wants numbers. Whatever found no place is reported as dropped, with the reason.

The schema drives it: a field added to the schema is found by its own name without any
change here; the tables below only hold other names people use for the same thing.
"""

from registry.remap.trace import trace
from registry.remap.vocabulary import SYNONYMS, VALUE_SYNONYMS, coerce_number, normalise_key
from registry.remap.walker import DroppedKey, KeyMove, Remapping, path_under, remap

__all__ = [
    "SYNONYMS",
    "VALUE_SYNONYMS",
    "DroppedKey",
    "KeyMove",
    "Remapping",
    "coerce_number",
    "normalise_key",
    "path_under",
    "remap",
    "trace",
]
