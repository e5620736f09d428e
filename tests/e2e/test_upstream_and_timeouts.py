"""End to end: a package for a code only an upstream axis serves goes out by its route, and a request the
daemon cannot finish in time is answered 503 ``http.timeout``, after which a retry gets the first receipt."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from daemon import AgencySpec, Axisd, Receiver
from test_exchange import document

H41, G09, K10 = "000.00.00.H41", "000.00.00.G09", "000.00.00.K10"


def test_a_package_for_an_upstream_code_is_delivered_by_its_route(tmp_path: Path) -> None:
    upstream = Receiver()
    upstream.up()
    route = f'[[route]]\nname = "national"\nprefixes = ["G"]\nurl = "{upstream.url}"\n'
    axisd = Axisd(tmp_path, [AgencySpec(H41)], routes=route)
    axisd.start()
    try:
        data = document(H41, (G09,), "000.00.00.H41,2026/11/22,1/UBND")
        answer = axisd.submit(data, H41)
        assert answer.status == 202, answer.body
        assert answer.json()["recipients"] == [{"code": G09, "mode": "upstream"}]
        message_id = answer.json()["message_id"]
        axisd.wait_for(lambda: upstream.received, what="the upstream push")
        got = upstream.received[0]
        assert got.body == data  # relayed byte for byte: a signature made upstream of us still verifies
        assert got.headers["idempotency-key"] == message_id and got.headers["x-axis-trace"].startswith("000.00.99.H41;")

        def delivered() -> bool:
            view = axisd.sent(message_id, H41).json()
            return view["recipients"][0]["state"] == "delivered"
        axisd.wait_for(delivered, what="the delivery recorded")
        view = axisd.sent(message_id, H41).json()
        assert view["recipients"][0]["mode"] == "upstream"
        assert [e["event"] for e in view["recipients"][0]["events"]] == ["queued", "delivered"]
        assert [e["event"] for e in view["events"]] == ["accepted", "queued"]
        assert axisd.metric('axis_deliveries_total{agency="upstream:national",mode="upstream"}') == 1

        outside = axisd.submit(document(H41, (K10,), "000.00.00.H41,2026/11/22,2/UBND"), H41)
        assert outside.status == 422 and outside.json()["error"]["code"] == "route.unknown-recipient"
        assert K10 in outside.json()["error"]["message"]
    finally:
        axisd.kill()
        upstream.down()


def test_a_request_that_outlives_the_timeout_is_answered_503_and_a_retry_gets_the_receipt(tmp_path: Path) -> None:
    axisd = Axisd(tmp_path, [AgencySpec(H41), AgencySpec(G09)], request_timeout=1)
    axisd.start()
    try:
        data = document(H41, (G09,), "000.00.00.H41,2026/11/22,3/UBND")
        lock = sqlite3.connect(axisd.data_dir / "axis.sqlite3", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the writer waits
        try:
            started = time.monotonic()
            answer = axisd.submit(data, H41)
            waited = time.monotonic() - started
        finally:
            time.sleep(max(0.0, 2.0 - waited))
            lock.execute("ROLLBACK")
            lock.close()
        assert answer.status == 503, answer.body
        error = answer.json()["error"]
        assert error["code"] == "http.timeout" and "first receipt" in error["message"]
        assert 0.9 <= waited < 5
        # the package was queued before the answer: it is stored once the lock goes, and a retry finds it
        retry = axisd.wait_for(lambda: (r := axisd.submit(data, H41)).status == 202 and r, what="the retry")
        assert retry.json()["duplicate"] is True
        assert len(axisd.mailbox(G09)) == 1
    finally:
        axisd.kill()
