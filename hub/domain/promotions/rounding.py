"""Turning exact amounts into minor units that add up.

A promotion's amounts are exact (``Fraction``). ``apportion`` rounds their sum
half-even to the minor unit (one rounding per allocation, so 0.5 goes to the even
unit and no bias builds up over many orders), then gives each slot (a line, or
shipping) the floor of its exact amount and hands the units still missing to the
slots with the largest remainders (ties: the lower ``tie_rank``). The slots
therefore sum EXACTLY to the rounded total, and no slot gets more than the ceiling of
its exact amount, so a slot capped at an integer is never exceeded.

With a ``cap`` (a budget) below the rounded total, the cap is shared out instead, in
proportion to the exact amounts, by the same largest-remainder rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction


def round_half_even(value: Fraction) -> int:
    return round(value)  # Fraction.__round__ without digits rounds half to even


def apportion(
    exact: Sequence[Fraction], tie_rank: Sequence[int], cap: int | None = None
) -> list[int]:
    """Round the sum of ``exact`` half-even (at most ``cap``) and share it out: see the
    module docstring."""
    if not exact:
        return []
    dens = [e.denominator for e in exact]
    common = math.lcm(*dens)
    return apportion_scaled(
        [e.numerator * (common // d) for e, d in zip(exact, dens, strict=True)],
        common,
        tie_rank,
        cap,
    )


def apportion_scaled(
    nums: Sequence[int], denominator: int, tie_rank: Sequence[int], cap: int | None = None
) -> list[int]:
    """``apportion`` of the exact amounts ``nums[i] / denominator``. Integers on one
    denominator instead of ``Fraction`` arithmetic: the same sums, floors and remainder
    order (any common denominator gives the same shares), at a fraction of the cost
    (this runs for every promotion tried)."""
    if not nums:
        return []
    common = denominator
    total_num = sum(nums)
    if total_num <= 0:
        return [0] * len(nums)
    total, twice_rest = divmod(total_num, common)
    twice_rest *= 2
    if twice_rest > common or (twice_rest == common and total % 2):
        total += 1  # half to even
    if cap is not None and total > cap:
        total = max(cap, 0)
        # share_i = exact_i * total / total_exact = nums_i * total / total_num
        nums = [n * total for n in nums]
        common = total_num
    floors = [n // common for n in nums]
    short = total - sum(floors)
    if short > 0:
        rest = [n - f * common for n, f in zip(nums, floors, strict=True)]
        by_remainder = sorted(
            (i for i, r in enumerate(rest) if r > 0),
            key=lambda i: (-rest[i], tie_rank[i]),
        )
        if short > len(by_remainder):  # impossible by construction; see the docstring
            raise AssertionError("apportion: remainder exceeds the slots available")
        for i in by_remainder[:short]:
            floors[i] += 1
    return floors
