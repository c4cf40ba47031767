"""JSON documents in a command's output (curl prints GraphQL answers back to back,
between other text)."""

from __future__ import annotations

import json
from typing import Any


def json_objects(output: str) -> list[Any]:
    """Every JSON object in ``output``, in order; text that is not JSON is skipped."""
    out, i, decoder = [], 0, json.JSONDecoder()
    while (i := output.find("{", i)) != -1:
        try:
            doc, i = decoder.raw_decode(output, i)
        except ValueError:
            i += 1
            continue
        out.append(doc)
    return out
