"""Point of sale: what a store's tills need from the hub.

- :mod:`.snapshot`: what a till needs to sell offline (the catalog priced in the
  store's channel, barcodes, promotions, tax rates and the store's stock, as a full
  snapshot or the changes since a cursor); its failures are :class:`SnapshotProblem`.
- :mod:`.sync`, :mod:`.sync_types`, :mod:`.sync_apply`: ``posSync``, the transactions
  a till recorded offline (sales, returns, exchanges, stock counts, cash movements),
  each applied once per (store, till, client transaction id) with its own result
  (:class:`~hub.domain.pos.sync_types.PosSyncCode`).
"""

from hub.domain.pos.snapshot import (
    MAX_PAGE,
    OVERLAP,
    PosError,
    SnapshotPage,
    SnapshotProblem,
    StockEntry,
    TaxRateEntry,
    TillProduct,
    TillVariant,
    Tombstone,
    pos_snapshot,
)

__all__ = [
    "MAX_PAGE",
    "OVERLAP",
    "PosError",
    "SnapshotPage",
    "SnapshotProblem",
    "StockEntry",
    "TaxRateEntry",
    "TillProduct",
    "TillVariant",
    "Tombstone",
    "pos_snapshot",
]
