"""Connectors' hub side (issue 12): the runtime lives here (helper conn); the
marketplace reads (listings) and the order import (orders_in)."""
