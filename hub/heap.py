"""How a hub process sets up Python's cyclic garbage collector once it has started.

Every request allocates thousands of short-lived objects; with the interpreter's
default thresholds (700, 10, 10) the collector runs a young pass every 700 net
allocations and a full pass, which walks every object the process holds (the schema,
the SQL metadata, the parsed promotions), often enough that one lands in a good share
of requests: the stacking pricing bench's p99 was 83 ms against a p50 of 18 ms, and
17.6 ms p99 with full passes made rare. So, once started:

* ``gc.freeze()`` moves everything alive at start-up (modules, the schema, settings)
  to a permanent generation that no pass walks again;
* thresholds (20,000, 20, 20): a young pass every 20,000 net allocations (a request's
  garbage is mostly freed by reference counting before then), a full pass every
  8 million. Reference cycles are still collected, later.

``hub serve`` (each worker, in the app's lifespan) does this; the in-process benches
call it too, so they measure the process the server runs.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 20, 20)


def settle_heap() -> None:
    """Collect once, freeze what is alive and set the thresholds (see the module)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
