"""Question grounding: which annotated event a question names, and which event answers it.

Why: gf's grounded answer score (``GroundedAnswerScore``) points from the question to one
event memory. Where the annotations say which event that is, the pointer can be trained
on it directly (``model.pointer_loss``) and measured during training (the
``grounding_diagnostics`` hook), instead of hoping the match emerges from the answer loss
alone. The file (which builders take it, its format, what ``null`` means):
docs/data_formats.md, "0. What every benchmark becomes" (Grounding).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

from gf.common.errors import DataFileError

__all__ = ["NO_EVENT", "GROUNDING_FIELDS", "grounding_from_raw"]

#: The value of ``named_event`` / ``answer_event`` in a sample where there is none.
NO_EVENT = -1
GROUNDING_FIELDS = ("named_event", "answer_event")


def grounding_from_raw(raw: Any, source: str) -> Dict[str, Tuple[int, int]]:
    """``{question_id: (named_event, answer_event)}`` with :data:`NO_EVENT` for none.

    Malformed entries are errors naming ``source``, the question id and the field: a wrong
    grounding would train the pointer towards the wrong event without any sign of it.
    """
    if not isinstance(raw, Mapping):
        raise DataFileError(f"{source}: expected a JSON object {{question_id: {{named_event, answer_event}}}}, "
                            f"got {type(raw).__name__}")
    table: Dict[str, Tuple[int, int]] = {}
    for qid, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise DataFileError(f"{source}: question {qid!r}: expected {{'named_event': i, 'answer_event': j}}, "
                                f"got {type(entry).__name__}")
        unknown = sorted(set(entry) - set(GROUNDING_FIELDS))
        if unknown:
            raise DataFileError(f"{source}: question {qid!r}: unknown field(s) {unknown}; known: "
                                f"{list(GROUNDING_FIELDS)}")
        values = []
        for name in GROUNDING_FIELDS:
            value = entry.get(name)
            if value is None:
                values.append(NO_EVENT)
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DataFileError(f"{source}: question {qid!r}: {name} must be null or an event position >= 0, "
                                    f"got {value!r}")
            else:
                values.append(int(value))
        table[str(qid)] = (values[0], values[1])
    return table
