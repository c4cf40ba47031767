"""Point of sale: what a store's till needs to sell offline (:mod:`.snapshot`: the
catalog priced in the store's channel, barcodes, promotions, tax rates and the store's
stock, as a full snapshot or the changes since a cursor). Its failures are
:class:`SnapshotProblem`."""

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
