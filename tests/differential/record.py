"""Turn documents recorded with ``HUB_RECORD_DOCUMENTS`` into ``recorded.json``.

    python tests/differential/record.py /tmp/documents.jsonl

Keeps the queries (not mutations or subscriptions) sent as staff, as a storefront or
without a key, once each (same document, variables, caller and headers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse

OUT = Path(__file__).resolve().parent / "recorded.json"


def main(source: str) -> int:
    seen: set[str] = set()
    out = []
    for line in Path(source).read_text().splitlines():
        rec = json.loads(line)
        try:
            doc = parse(rec["query"])
        except GraphQLSyntaxError:
            continue
        name = rec.get("operationName")
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        op = next((o for o in ops if name is None or (o.name and o.name.value == name)), None)
        if op is None or op.operation.value != "query" or rec["as"] == "other":
            continue
        entry = {
            "query": rec["query"],
            "variables": rec.get("variables") or {},
            "operationName": name,
            "as": rec["as"],
            "headers": rec.get("headers"),
        }
        key = json.dumps(entry, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(entry)
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True))
    print(f"{len(out)} queries ({len({e['query'] for e in out})} documents) -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
