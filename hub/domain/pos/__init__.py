"""Point of sale: what a store's tills need from the hub.

- :mod:`.sync`, :mod:`.sync_types`, :mod:`.sync_apply`: ``posSync``, the transactions
  a till recorded offline (sales, returns, exchanges, stock counts, cash movements),
  each applied once per (store, till, client transaction id) with its own result
  (:class:`~hub.domain.pos.sync_types.PosSyncCode`).
"""
