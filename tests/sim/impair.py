"""Seeded link impairments: loss, delay, jitter, reordering and duplication.

An :class:`Impairment` describes a path; :func:`plan_delivery` turns one
datagram into zero, one or two arrival delays using the network's single
``random.Random``, so a run is reproducible from its seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["PERFECT", "Delivery", "Impairment", "plan_delivery"]


@dataclass(frozen=True)
class Impairment:
    """What a path does to datagrams crossing it (one way).

    * ``loss``: probability in [0, 1] that a datagram is dropped.
    * ``delay``: fixed one-way delay in seconds.
    * ``jitter``: extra delay drawn uniformly from ``[0, jitter]`` seconds.
      Without reordering, jitter never lets a datagram overtake an earlier one
      of the same flow (links are FIFO).
    * ``reorder``: probability that a datagram is held back by
      ``reorder_delay`` extra seconds and may be overtaken by later ones.
    * ``duplicate``: probability that a datagram arrives twice (the copy gets
      its own delay).
    """

    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.05
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value!r}")
        for name in ("delay", "jitter", "reorder_delay"):
            value = getattr(self, name)
            if value < 0.0:
                raise ValueError(f"{name} must not be negative, got {value!r}")


#: A path that neither loses, delays nor reorders anything.
PERFECT = Impairment()


@dataclass(frozen=True)
class Delivery:
    """One planned arrival: delay after sending, and whether it may overtake."""

    delay: float
    fifo: bool
    duplicate: bool


def plan_delivery(imp: Impairment, rng: random.Random) -> list[Delivery]:
    """Decide the fate of one datagram on a path with impairment ``imp``.

    Returns an empty list if the datagram is lost, otherwise one entry per copy
    that arrives.  Random draws are made only for impairments that are
    configured; since the network sends datagrams in a deterministic order,
    the whole run is a function of the seed.
    """
    if imp.loss > 0.0 and rng.random() < imp.loss:
        return []
    copies = 1
    if imp.duplicate > 0.0 and rng.random() < imp.duplicate:
        copies = 2
    out: list[Delivery] = []
    for i in range(copies):
        delay = imp.delay
        if imp.jitter > 0.0:
            delay += rng.uniform(0.0, imp.jitter)
        fifo = True
        if imp.reorder > 0.0 and rng.random() < imp.reorder:
            delay += imp.reorder_delay
            fifo = False
        out.append(Delivery(delay=delay, fifo=fifo, duplicate=i > 0))
    return out
