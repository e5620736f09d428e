"""Intake.prepare: what a routed package becomes for the store (one delivery row per recipient, per registry)."""

from __future__ import annotations

from pathlib import Path

from packages import edoc

from axis.agencycode import parse_strict
from axis.intake import Intake, Policy
from axis.receipt import load_or_create_identity
from axis.registry import Agency, DeliveryMode, Registry
from axis.verdict import Checker
from axis.vntime import now

G22 = "000.00.00.G22"
CODES = [f"{i:03d}.00.00.H41" for i in range(1, 64)]


def registry(push_url: str) -> Registry:
    agencies = [Agency(parse_strict(G22), "sender"), Agency(parse_strict(CODES[0]), "push", delivery=DeliveryMode.PUSH,
                                                           push_url=push_url)]
    return Registry(agencies + [Agency(parse_strict(c), "pull") for c in CODES[1:]])


def test_each_recipient_gets_its_own_delivery_row_from_the_registry_in_force(tmp_path: Path) -> None:
    signer = load_or_create_identity(tmp_path / "k.pem", tmp_path / "c.pem", "000.00.99.H41", "axis")
    intake, checker = Intake(signer, "000.00.99.H41", now), Checker()
    data = edoc(to=tuple(CODES))
    for url in ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b", "http://127.0.0.1:9/b"):  # a reload, then again
        policy = Policy(registry(url), checker)
        sender = policy.registry.get(G22)
        assert sender is not None
        prepared = intake.prepare(policy, sender, data)
        rows = [(d.recipient, d.mode, d.target) for d in prepared.message.deliveries]
        assert rows == [(CODES[0], "push", url)] + [(c, "pull", None) for c in CODES[1:]]
        assert prepared.recipients == ((CODES[0], DeliveryMode.PUSH), *((c, DeliveryMode.PULL) for c in CODES[1:]))
        assert prepared.needs_push
