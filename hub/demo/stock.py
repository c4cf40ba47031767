"""The demo's stock rows: levels at the locations, and the ledger movements, transfers,
reservations, lots and serial numbers that add up to them (so ``inventory.verify``
finds no drift). Stock comes from its own random stream (``srng``), so it never
changes the catalog rows."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from hub.demo.data import BASE_TIME, CHUNK
from hub.demo.locations import (
    BERLIN,
    BROOKLYN,
    CHICAGO,
    MIN_AVAILABLE,
    NEWARK,
    RESERVATION_EXPIRY,
    ROTTERDAM,
    SERIALISED_LEVELS,
    SOHO,
    STORES,
    WAREHOUSES,
    LevelDraft,
    transfer_time,
)


class StockRows:
    """The stock half of the demo generator (:class:`hub.demo.seed.Generator`)."""

    srng: random.Random
    n_levels: int
    n_moves: int
    n_reservations: int
    n_transfers: int
    n_lots: int
    n_serials: int
    serialised_levels: int
    transfers: dict[tuple[int, int], dict[str, Any]]

    def _stock(
        self,
        pid: int,
        vid0: int,
        skus: list[str],
        status: str,
        serialisable: bool,
        created: datetime,
        out: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Levels and their ledger rows for one product's variants.

        Active products: both channel warehouses hold every variant (at least
        MIN_AVAILABLE sellable), the 3PL and the stores a share of them. Drafts are
        being bought in; archived products have leftovers in Newark at most.
        """
        rng = self.srng
        for vid, sku in enumerate(skus, start=vid0):
            if status == "ACTIVE":
                levels = [
                    self._state(NEWARK, 20 + int(380 * rng.random() ** 1.5), selling=True),
                    self._state(ROTTERDAM, 20 + int(280 * rng.random() ** 1.5), selling=True),
                ]
                if rng.random() < 0.35:
                    on_hand = 0 if rng.random() < 0.1 else rng.randint(10, 150)
                    levels.append(self._state(CHICAGO, on_hand, selling=True))
                by_loc = {lv.loc: lv for lv in levels}
                for store, share, source in STORES:
                    if rng.random() >= share:
                        continue
                    on_hand = 0 if rng.random() < 0.2 else 1 + int(24 * rng.random() ** 2)
                    lv = self._state(store, on_hand, selling=True)
                    if rng.random() < 0.06:  # a restock on its way from the warehouse
                        lv.incoming = rng.randint(2, 12)
                        lv.transfer_in = self._transfer(pid, source, store, vid, lv.incoming, out)
                        by_loc[source].sent.append((lv.transfer_in, lv.incoming))
                    levels.append(lv)
                for loc in WAREHOUSES:  # sellable online, whatever is committed or held
                    lv = by_loc[loc]
                    free = lv.on_hand - lv.committed - lv.reserved - lv.quarantined
                    lv.on_hand += max(0, MIN_AVAILABLE - (free - lv.safety_stock))
            elif status == "DRAFT":
                levels = []
                for loc, most in ((NEWARK, 200), (ROTTERDAM, 150)):
                    if rng.random() < 0.5:  # ordered, not arrived yet
                        levels.append(LevelDraft(loc, 0, incoming=rng.randint(50, 300)))
                    else:
                        levels.append(LevelDraft(loc, rng.randint(20, most)))
            else:
                levels = [LevelDraft(NEWARK, 0 if rng.random() < 0.6 else rng.randint(1, 10))]
            for lv in levels:
                self._ledger(pid, vid, sku, lv, serialisable, out)

    def _state(self, loc: int, on_hand: int, *, selling: bool) -> LevelDraft:
        """A level of an active product: some of the stock committed to orders, held in
        carts, in quarantine or kept back as safety stock; replenishment on order."""
        rng = self.srng
        lv = LevelDraft(loc, on_hand)
        warehouse = loc in WAREHOUSES
        if on_hand and selling:
            if warehouse and rng.random() < 0.10:
                lv.safety_stock = rng.randint(2, 10)
            free = on_hand - lv.safety_stock
            p_commit = 0.25 if warehouse else 0.20 if loc == CHICAGO else 0.08
            if free > 0 and rng.random() < p_commit:
                lv.committed = rng.randint(1, max(1, min(free // 5, 40)))
                free -= lv.committed
            if free > 0 and rng.random() < 0.03:
                lv.reserved = rng.randint(1, min(3, free))
                free -= lv.reserved
            if free > 0 and rng.random() < (0.04 if warehouse else 0.03):
                lv.quarantined = rng.randint(1, min(5, free))
        if rng.random() < 0.2:
            lv.reorder_point = (
                rng.randint(20, 60)
                if warehouse
                else rng.randint(10, 40)
                if loc == CHICAGO
                else rng.randint(2, 6)
            )
        if loc not in (SOHO, BROOKLYN, BERLIN) and rng.random() < 0.08:
            lv.incoming = rng.randint(50, 300)  # a purchase order
        return lv

    def _transfer(
        self, pid: int, source: int, store: int, vid: int, units: int, out: dict[str, list]
    ) -> int:
        """The in-transit transfer to a store for this block of products (one per chunk)."""
        key = ((pid - 1) // CHUNK, store)
        row = self.transfers.get(key)
        if row is None:
            self.n_transfers += 1
            row = {
                "id": self.n_transfers,
                "from_location_id": source,
                "to_location_id": store,
                "status": "IN_TRANSIT",
                "lines": [],
                "created_at": transfer_time(pid),
                "received_at": None,
            }
            self.transfers[key] = row
            out["transfers"].append(row)
        row["lines"].append({"variant_id": vid, "quantity": units})
        return row["id"]

    # Long: a level's ledger movements in the order they happened and the stock
    # stream draws them; the sequence is the point, so it stays in one place.
    def _ledger(
        self,
        pid: int,
        vid: int,
        sku: str,
        lv: LevelDraft,
        serialisable: bool,
        out: dict[str, list[dict[str, Any]]],
    ) -> None:
        """The level row and the movements that add up to it."""
        rng = self.srng
        loc = lv.loc
        moves = out["moves"]
        created = BASE_TIME + timedelta(minutes=pid - 1)  # the product's
        last = created

        def move(reason: str, when: datetime, **kw: Any) -> None:
            nonlocal last
            self.n_moves += 1
            moves.append(
                {
                    "id": self.n_moves,
                    "variant_id": vid,
                    "location_id": loc,
                    "reason": reason,
                    "d_on_hand": kw.get("on_hand", 0),
                    "d_committed": kw.get("committed", 0),
                    "d_reserved": kw.get("reserved", 0),
                    "d_incoming": kw.get("incoming", 0),
                    "d_quarantined": kw.get("quarantined", 0),
                    "actor": "demo",
                    "reference": kw.get("reference"),
                    "lot_number": kw.get("lot_number"),
                    "serial_number": kw.get("serial_number"),
                    "created_at": when,
                }
            )
            last = max(last, when)

        received = lv.on_hand + sum(units for _, units in lv.sent)
        when = created + timedelta(days=1, hours=loc)
        if (
            received
            and loc in (SOHO, BROOKLYN, BERLIN)
            and serialisable
            and received <= 5
            and self.serialised_levels < SERIALISED_LEVELS
        ):
            # Leather goods in stores are tracked unit by unit.
            self.serialised_levels += 1
            for _ in range(received):
                self.n_serials += 1
                sn = f"SN-{sku}-{self.n_serials:04d}"
                move("received", when, on_hand=1, serial_number=sn)
                out["serials"].append(
                    {
                        "id": self.n_serials,
                        "variant_id": vid,
                        "serial_number": sn,
                        "location_id": loc,
                        "status": "ON_HAND",
                        "updated_at": when,
                    }
                )
            received = 0
        elif loc in WAREHOUSES and lv.on_hand >= 10 and rng.random() < 0.05:
            # Batches with a best-before date; what is left of them is still on hand.
            for _ in range(rng.randint(1, 2)):
                units = rng.randint(lv.on_hand // 4, lv.on_hand // 2)
                self.n_lots += 1
                lot = f"L{created:%y}{rng.randint(1, 52):02d}-{self.n_lots:06d}"
                move("received", when, on_hand=units, lot_number=lot)
                out["lots"].append(
                    {
                        "id": self.n_lots,
                        "variant_id": vid,
                        "location_id": loc,
                        "lot_number": lot,
                        "expires_on": date(2027, 1, 1) + timedelta(days=rng.randrange(730)),
                        "quantity": units,
                    }
                )
                received -= units
        if received:
            move("received", when, on_hand=received)
        for tid, units in lv.sent:
            move("transfer_out", transfer_time(pid), on_hand=-units, reference=f"transfer:{tid}")
        if lv.incoming:
            if lv.transfer_in:
                move(
                    "transfer_in_transit",
                    transfer_time(pid),
                    incoming=lv.incoming,
                    reference=f"transfer:{lv.transfer_in}",
                )
            else:
                move("purchase_order", created + timedelta(days=12), incoming=lv.incoming)
        if lv.quarantined:
            move("quarantined", created + timedelta(days=10), quarantined=lv.quarantined)
        if lv.committed:
            move("sale_committed", created + timedelta(days=20), committed=lv.committed)
        if lv.reserved:
            self.n_reservations += 1
            token = f"demo-{self.n_reservations}"
            at = created + timedelta(days=25)
            move("reserved", at, reserved=lv.reserved, reference=f"reservation:{token}")
            out["reservations"].append(
                {
                    "id": self.n_reservations,
                    "token": token,
                    "variant_id": vid,
                    "location_id": loc,
                    "quantity": lv.reserved,
                    "status": "ACTIVE",
                    "reference": None,
                    "expires_at": RESERVATION_EXPIRY,
                    "created_at": at,
                }
            )
        self.n_levels += 1
        out["levels"].append(
            {
                "id": self.n_levels,
                "variant_id": vid,
                "location_id": loc,
                "on_hand": lv.on_hand,
                "committed": lv.committed,
                "reserved": lv.reserved,
                "incoming": lv.incoming,
                "quarantined": lv.quarantined,
                "safety_stock": lv.safety_stock,
                "reorder_point": lv.reorder_point,
                "updated_at": last,
            }
        )
