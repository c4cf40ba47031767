"""How a hub process sets up Python's cyclic garbage collector once it has started.

Every request allocates thousands of short-lived objects; with the interpreter's
default thresholds (700, 10, 10) the collector runs a young pass every 700 net
allocations and a full pass, which walks every object the process holds (the schema,
the SQL metadata, the parsed promotions), often enough that one lands in a good share
of requests: the stacking pricing bench's p99 was 83 ms against a p50 of 18 ms, and
about 20-24 ms with full passes made rare. So, once started:

* ``gc.freeze()`` moves everything alive at start-up (modules, the schema, settings)
  to a permanent generation that no pass walks again;
* thresholds (5,000, 10, 20): a young pass every 5,000 net allocations, a middle one
  every 50,000, a full one every million. A young pass costs more than in proportion
  to its size (the listing page's young objects reference much): measured over 2,000
  listing requests in process (``bench/inprocess_listing.py``, GC callbacks timing
  each pass after start-up), 20,000 gave 68 young passes of 5.8 ms median (a pause
  in 3% of requests) and 445 ms in all; 5,000 gives young passes of 0.66 ms, middle
  ones of 2.9 ms and 300 ms in all; 700 (the default; frozen too) 3,900 young passes
  and 675 ms.
  Reference cycles are still collected, later.

``hub serve`` (each worker, in the app's lifespan) does this; the in-process benches
call it too, so they measure the process the server runs.
"""

from __future__ import annotations

import gc

THRESHOLDS = (5_000, 10, 20)


def settle_heap() -> None:
    """Collect once, freeze what is alive and set the thresholds (see the module)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
