"""The intake pool with real child processes and the real reactor (trial drives it): jobs, refusals,
a reload whose configuration the children cannot load, and a clean stop."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from daemon import AgencySpec, Axisd
from packages import edoc
from twisted.internet import defer, reactor
from twisted.trial import unittest

from axis.app import Loaded, identity, load_config, with_data_dir
from axis.intake import Prepared, Refused
from axis.receipt import load_or_create_identity, verify_receipt
from axis.registry import DeliveryMode
from axis.workers.pool import IntakePool, StartFailed

G22, H41 = "000.00.00.G22", "000.00.00.H41"


def document(n: int) -> bytes:
    return edoc(sender=f"<edXML:From><edXML:OrganId>{G22}</edXML:OrganId><edXML:OrganName>VPCP</edXML:OrganName>"
                "</edXML:From>", to=(H41,),
                document_id=f"<edXML:DocumentId>{G22},2026/11/22,{n}/VPCP</edXML:DocumentId>")


class IntakePoolTests(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        # Not trial's mktemp(): that is relative to the working directory, which here is the checkout.
        root = Path(tempfile.mkdtemp(prefix="axis-pool-"))
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        self.axisd = Axisd(root, [AgencySpec(G22), AgencySpec(H41)])  # its configuration only; not started
        self.axisd.data_dir.mkdir()
        self.signer = identity(self.loaded().config)  # made by the daemon when it starts, never by its processes
        self.pool = IntakePool(reactor, IntakePool.child_command(self.axisd.config, self.axisd.data_dir), 2)

    def loaded(self) -> Loaded:
        return load_config(self.axisd.config, lambda c: with_data_dir(c, self.axisd.data_dir))

    def tearDown(self) -> defer.Deferred[None]:
        return self.pool.stop()

    @defer.inlineCallbacks
    def test_jobs_refusals_and_a_reload_the_children_cannot_load(self):  # type: ignore[no-untyped-def]
        assert self.pool.prepare(G22, document(0)) is None  # nothing ready yet: the caller uses its threads
        yield self.pool.start()
        assert self.pool.ready == 2
        first = [c.pid for c in self.pool.children]

        data = document(1)
        prepared = yield self.pool.prepare(G22, data)
        assert isinstance(prepared, Prepared)
        assert prepared.message.data == data  # given back by the daemon's side, not sent through the pipe
        assert prepared.recipients == ((H41, DeliveryMode.PULL),) and prepared.message.sender == G22
        assert prepared.signature is not None and prepared.signature["class"] == "absent"

        refused = yield self.assertFailure(self.pool.prepare(G22, b"<edXML/>"), Refused)
        assert refused.problems[0].code.code.startswith("edxml.")
        spoofed = yield self.assertFailure(self.pool.prepare(H41, data), Refused)  # From is G22
        assert spoofed.problems[0].code.code == "auth.not-your-agency"

        agencies = self.axisd.conf / "agencies.toml"
        agencies.write_text(agencies.read_text() + '[[agency]]\ncode = "not a code"\nname = "x"\n')
        failed = yield self.assertFailure(self.pool.replace(), StartFailed)
        assert "agencies.toml" in str(failed) and "not a code" in str(failed)
        assert [c.pid for c in self.pool.children] == first and self.pool.ready == 2  # the old ones serve on
        again = yield self.pool.prepare(G22, document(2))
        assert again.message.document_id.endswith(",2/VPCP")

    @defer.inlineCallbacks
    def test_a_generation_that_read_other_files_than_the_daemon_does_not_serve(self):  # type: ignore[no-untyped-def]
        """An edit between the daemon's read and the processes' would have them check packages against another
        registry than the daemon authenticates with: such a generation is stopped, and the reload refused."""
        loaded = self.loaded()
        yield self.pool.replace(loaded.sources)  # the same files: it serves
        assert self.pool.ready == 2 and self.pool.sources == loaded.sources
        serving = [c.pid for c in self.pool.children]

        agencies = self.axisd.conf / "agencies.toml"
        agencies.write_text(agencies.read_text() + '[[agency]]\ncode = "000.00.00.H42"\nname = "x"\n'
                            'token_sha256 = "' + "ab" * 32 + '"\n')  # a valid edit, made after the daemon's read
        failed = yield self.assertFailure(self.pool.replace(loaded.sources), StartFailed)
        assert str(failed) == (f"it read other configuration files than axisd did ({agencies.resolve()} changed in "
                               "between): reload again once the files are as they should be")
        assert [c.pid for c in self.pool.children] == serving and self.pool.ready == 2  # the old ones serve on
        again = self.loaded()
        yield self.pool.replace(again.sources)  # a reload that reads the files as they are now takes over
        assert self.pool.ready == 2 and not set(serving) & {c.pid for c in self.pool.children}

    @defer.inlineCallbacks
    def test_a_generation_that_would_sign_receipts_with_another_key_does_not_serve(self):  # type: ignore
        """The daemon keeps the receipt key it started with; an intake process loads it from disk: one that would
        sign with another (the identity replaced at its path, for the next restart) is stopped, and one finds none
        (removed) does not make one of its own, which the next restart would adopt."""
        loaded, signer = self.loaded(), self.signer
        pool = IntakePool(reactor, IntakePool.child_command(self.axisd.config, self.axisd.data_dir), 1, loaded.sources,
                          signer.key_id)
        self.addCleanup(pool.stop)
        yield pool.start()
        prepared = yield pool.prepare(G22, document(7))
        verify_receipt(prepared.message.receipt, signer.certificate)  # signed with the daemon's key
        key, cert = self.axisd.data_dir / "axis-key.pem", self.axisd.data_dir / "axis-cert.pem"
        other = Path(tempfile.mkdtemp(prefix="axis-pool-key-"))
        self.addCleanup(shutil.rmtree, other, ignore_errors=True)
        load_or_create_identity(other / key.name, other / cert.name, "000.00.99.H41", "another")
        for name in (key.name, cert.name):  # a new identity put in place, for the next restart
            (other / name).replace(self.axisd.data_dir / name)
        failed = yield self.assertFailure(pool.replace(loaded.sources), StartFailed)
        assert f"than axisd (key_id {signer.key_id}): axis's identity changed on disk; restart axisd" in str(failed)
        for path in (key, cert):
            path.unlink()
        failed = yield self.assertFailure(pool.replace(loaded.sources), StartFailed)
        assert "and only axisd itself creates them" in str(failed) and not key.exists()
        again = yield pool.prepare(G22, document(8))  # the old generation serves on, with the daemon's key
        verify_receipt(again.message.receipt, signer.certificate)

    @defer.inlineCallbacks
    def test_stop_answers_what_was_queued_first(self):  # type: ignore[no-untyped-def]
        yield self.pool.start()
        pending = [self.pool.prepare(G22, document(n)) for n in range(20)]
        stopped = self.pool.stop()
        results = yield defer.gatherResults(pending)
        yield stopped
        assert len({r.message.message_id for r in results}) == 20
        assert all(c.exited for c in self.pool.children)


def test_a_prepared_package_crosses_the_pipe_unchanged() -> None:
    from axis.errors import Code, Problem
    from axis.storage.base import NewDelivery, NewMessage
    from axis.workers.frames import PREPARED, Decoder, encode, pack_prepared, unpack_prepared

    modes = [DeliveryMode.PULL, DeliveryMode.PUSH, DeliveryMode.UPSTREAM] * 21
    codes = [f"{i:03d}.00.00.H41" for i in range(63)]
    targets = {DeliveryMode.PULL: None, DeliveryMode.PUSH: "http://127.0.0.1:9/in", DeliveryMode.UPSTREAM: "national"}
    message = NewMessage(
        message_id="m1", kind="edoc", sender=G22, document_id="d", doc_sender=G22, status_code=None, priority=3,
        sha256="0" * 64, data=b"<edXML/>", accepted_at="2026-11-22T10:00:00.000+07:00", accepted_ns=1,
        signature="valid", receipt=b"{}", deliveries=tuple(NewDelivery(c, m.value, targets[m]) for c, m in zip(codes, modes)),
        business_type=3, original_id="o", replaces=(("o", (codes[0],)),))
    prepared = Prepared(message, {"class": "valid"}, (Problem(Code.AGENCY_NONSTANDARD_CODE, "x"),))
    assert prepared.recipients == tuple(zip(codes, modes))
    for _ in range(2):  # the second time through the daemon side's cache of delivery rows
        (frame,) = Decoder().feed(encode(PREPARED, 7, pack_prepared(prepared)))
        assert frame[:2] == (PREPARED, 7) and b"<edXML/>" not in encode(PREPARED, 7, pack_prepared(prepared))
        again = unpack_prepared(frame[2], b"<edXML/>")
        assert again == prepared and again.needs_push
        assert all(type(m) is DeliveryMode for _, m in again.recipients)
