"""The embedded storage engine: one SQLite file in WAL mode, through sqlite-utils.

One connection writes (on the writer thread, see :mod:`axis.storage.writer`); any
number of read connections may exist, one per thread.  A package is acknowledged only
after its group's fsync: the daemon's writer commits with ``synchronous=NORMAL`` and
makes the group durable apart (:meth:`SqliteStore.make_durable`); every other writer
(``axisctl``, tests) uses ``synchronous=FULL``, durable when COMMIT returns.  Payloads
are stored once per SHA-256 as blobs in the same file, so a single commit covers the
bytes, the routing and the ledgers together.

The ledgers are append-only (triggers refuse UPDATE and DELETE).  A ledger entry without a
recipient concerns the whole package (``accepted``, and ``queued`` naming every recipient);
a recipient's history is those entries followed by its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from axis.errors import AxisError, Code
from axis.registry import ROUTE_KEY
from axis.storage.base import (
    TAKEN_BACK,
    UNDELIVERED,
    AckResult,
    AgencyRequest,
    AuditEntry,
    BusinessEvent,
    DeliveryView,
    DocumentCopy,
    DocumentFacts,
    Event,
    LedgerEntry,
    MailboxItem,
    MessageView,
    NewMessage,
    PushJob,
    QueueDepth,
    State,
    Stored,
)

DB_NAME = "axis.sqlite3"
PROGRESS_STEPS = 20000  # virtual-machine steps between two looks at a read's deadline (a few milliseconds)
WAL_CHECKPOINT_PAGES = 2000  # the daemon's writer; SQLite's default is 1,000
R = TypeVar("R")

migrations = Migrations("axis")


@migrations(name="0001_initial")
def _m0001(db: Database) -> None:
    db.execute("""
        CREATE TABLE payloads (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            data BLOB NOT NULL)""")
    db.execute("""
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            sender TEXT NOT NULL,
            document_id TEXT,
            doc_sender TEXT,
            status_code TEXT,
            priority INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES payloads(sha256),
            size INTEGER NOT NULL,
            accepted_at TEXT NOT NULL,
            accepted_ns INTEGER NOT NULL,
            signature TEXT,
            receipt BLOB NOT NULL)""")
    db.execute("CREATE UNIQUE INDEX messages_sender_sha256 ON messages(sender, sha256)")
    db.execute("CREATE INDEX messages_document ON messages(document_id, doc_sender)")
    db.execute("""
        CREATE TABLE deliveries (
            message_seq INTEGER NOT NULL REFERENCES messages(seq),
            recipient TEXT NOT NULL,
            mode TEXT NOT NULL,
            target TEXT,
            state TEXT NOT NULL,
            priority INTEGER NOT NULL,
            accepted_ns INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_ns INTEGER,
            first_failure_ns INTEGER,
            last_error TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (message_seq, recipient)) WITHOUT ROWID""")
    db.execute("CREATE INDEX deliveries_mailbox ON deliveries(recipient, state, priority DESC, message_seq)")
    db.execute("CREATE INDEX deliveries_due ON deliveries(state, next_attempt_ns) WHERE mode != 'pull'")
    db.execute("CREATE INDEX deliveries_queue ON deliveries(state, priority, accepted_ns)")
    db.execute("""
        CREATE TABLE transport_ledger (
            id INTEGER PRIMARY KEY,
            message_seq INTEGER NOT NULL REFERENCES messages(seq),
            recipient TEXT,
            event TEXT NOT NULL,
            at TEXT NOT NULL,
            detail TEXT)""")
    db.execute("CREATE INDEX transport_ledger_message ON transport_ledger(message_seq)")
    db.execute("""
        CREATE TABLE business_ledger (
            id INTEGER PRIMARY KEY,
            doc_sender TEXT NOT NULL,
            document_id TEXT NOT NULL,
            recipient TEXT NOT NULL,
            status_code TEXT NOT NULL,
            author TEXT NOT NULL,
            message_seq INTEGER NOT NULL REFERENCES messages(seq),
            at TEXT NOT NULL,
            status_time TEXT,
            description TEXT)""")
    db.execute("CREATE INDEX business_ledger_document ON business_ledger(document_id, doc_sender)")
    for table in ("transport_ledger", "business_ledger"):
        for action in ("UPDATE", "DELETE"):
            db.execute(f"""
                CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
                BEGIN SELECT RAISE(ABORT, 'the {table.replace("_", " ")} is append-only'); END""")


@migrations(name="0002_partial_queue_indexes")
def _m0002(db: Database) -> None:
    """Index only what is waiting.  Over five years of retention almost every delivery is done; indexing those
    made every new one land in a large index at a random page (a fan-out to 63 agencies wrote 63 pages)."""
    db.execute("DROP INDEX deliveries_mailbox")
    db.execute("CREATE INDEX deliveries_mailbox ON deliveries(recipient, priority DESC, message_seq) "
               "WHERE state IN ('queued','delivered','processing') AND mode != 'upstream'")
    db.execute("DROP INDEX deliveries_queue")
    db.execute("CREATE INDEX deliveries_queue ON deliveries(priority, accepted_ns) WHERE state = 'queued'")


@migrations(name="0003_business_flows")
def _m0003(db: Database) -> None:
    """What revokes, updates and replacements need: the business type and the linked document of a message,
    and the requests (a recipient's revoke, update or replacement waiting for its 15 or 16)."""
    db.execute("ALTER TABLE messages ADD COLUMN business_type INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN original_id TEXT")
    db.execute("CREATE INDEX messages_original ON messages(original_id, doc_sender) WHERE original_id IS NOT NULL")
    db.execute("""
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            message_seq INTEGER NOT NULL REFERENCES messages(seq),
            request TEXT NOT NULL,
            doc_sender TEXT NOT NULL,
            document_id TEXT NOT NULL,
            recipient TEXT NOT NULL)""")
    db.execute("CREATE INDEX requests_document ON requests(document_id, doc_sender, recipient)")
    db.execute("CREATE INDEX business_ledger_recipient ON business_ledger(document_id, doc_sender, recipient)")


@migrations(name="0004_documents_by_time")
def _m0004(db: Database) -> None:
    """Deadlines and statistics select documents by the time axis accepted them.  ISO times with the one
    offset +07:00 and milliseconds sort as text in time order."""
    db.execute("CREATE INDEX messages_accepted ON messages(accepted_at) WHERE kind = 'edoc'")


@migrations(name="0005_agency_requests")
def _m0005(db: Database) -> None:
    """Agencies asking, through the VXP door, to be registered or removed: an administrator decides."""
    db.execute("""
        CREATE TABLE agency_requests (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            action TEXT NOT NULL,
            agency TEXT NOT NULL,
            detail TEXT NOT NULL)""")


# What the lower axis of a ``pull`` route takes (its "mailbox": every delivery held for it, whatever the
# recipient), and word for word its queries' condition, as for the mailbox index.
_FOR_PEER = "state IN ('queued','delivered','processing') AND mode = 'peer'"


@migrations(name="0006_peer_mailboxes")
def _m0006(db: Database) -> None:
    """Federation: packages for agencies behind a lower axis wait for it by route (``target``), not by recipient."""
    db.execute("CREATE INDEX deliveries_peer ON deliveries(target, priority DESC, message_seq) "
               "WHERE state IN ('queued','delivered','processing') AND mode = 'peer'")


def _append_only(db: Database, table: str, what: str) -> None:
    """Triggers that refuse every UPDATE and DELETE on ``table`` (for the logs of migrations 0007 and later)."""
    for action in ("UPDATE", "DELETE"):
        db.execute(f"""
            CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
            BEGIN SELECT RAISE(ABORT, '{what} is append-only'); END""")


@migrations(name="0007_audit_log")
def _m0007(db: Database) -> None:
    """Administrative actions (reloads, resends, agency registration requests), append-only like the ledgers."""
    db.execute("""
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL)""")
    _append_only(db, "audit_log", "the audit log")


# Documents of their own (new ones and replacements; revokes and updates reuse the original's DocumentId),
# for the partial index above (its condition, kind = 'edoc', is part of this one).
_DOCUMENTS = "m.kind = 'edoc' AND coalesce(m.business_type, 0) NOT IN (1, 2)"
_ANSWERED = ("EXISTS (SELECT 1 FROM business_ledger b WHERE b.document_id = m.document_id AND b.doc_sender = m.sender "
             "AND b.recipient = d.recipient AND b.status_code IN ('01', '02', '03'))")


def _connect(path: Path, readonly: bool) -> Database:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
    db = Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 10000")
    return db


def open_database(data_dir: Path) -> Path:
    """Create or upgrade the database under ``data_dir``; returns its path.  Run once at start-up."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DB_NAME
    db = _connect(path, readonly=False)
    try:
        with db.ensure_autocommit_on():
            db.execute("PRAGMA journal_mode = WAL")
        migrations.apply(db)
    except sqlite3.Error as exc:
        raise AxisError.of(Code.STORAGE_UNAVAILABLE, f"{path}: {exc}") from None
    finally:
        db.close()
    return path


def checkpoint(path: Path) -> None:
    """Copy the WAL back into the database file and empty it, once every connection of the daemon is closed (none of
    them does it by itself: the writer's closes before the readers', which are read-only): a database file copied
    while axisd is stopped then holds everything.  Best effort: a reader of another process (a backup) may hold it."""
    conn = sqlite3.connect(f"file:{path}", uri=True, timeout=1)
    try:
        busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    if busy:  # SQLite says so in the row, not with an error: the caller must hear it
        raise sqlite3.OperationalError(f"busy: another connection (a backup?) reads the database; {copied} of "
                                       f"{pages} WAL pages copied")


PRIORITY_LEVELS = 5  # OtherInfo/Priority 0–4 (the reader refuses anything else)
_MAILBOX_COLUMNS = ("m.id, m.kind, m.sender, m.document_id, m.status_code, m.priority, m.size, m.sha256, "
                    "m.accepted_at, d.state")


def _with_oldest(urgent: list[R], old: list[R], limit: int, oldest: int, key: Callable[[R], Hashable]) -> list[R]:
    """``limit`` of the waiting, most urgent first (``urgent``), with ``oldest`` places for the oldest (``old``)
    whatever their priority; places the oldest do not need (they were urgent too) go back to the urgent."""
    picked = {key(r): r for r in urgent[:limit - oldest]}
    for r in (*old, *urgent[limit - oldest:]):
        if len(picked) >= limit:
            break
        picked.setdefault(key(r), r)
    return list(picked.values())


def _not_before(at: str, last: str | None) -> str:
    """``at``, or ``last`` if that is later: ISO times with the one offset +07:00 and milliseconds sort as text."""
    return last if last is not None and last > at else at


def _peer_where(owner: str, kind: str | None) -> tuple[str, tuple[object, ...]]:
    """(condition, parameters) of the deliveries the lower axis of a pull route (``route:NAME``) takes, of ``kind``
    when given: every one held for it.  The condition contains its partial index's own.  An agency's own are in the
    mailbox tables (0011)."""
    assert owner.startswith(ROUTE_KEY)
    route = owner[len(ROUTE_KEY):]
    if kind is None:
        return f"d.target = ? AND {_FOR_PEER}", (route,)
    return f"d.target = ? AND {_FOR_PEER} AND m.kind = ?", (route, kind)


# An agency's mailbox (migration 0011): its entries not yet moved, and those moved into the large table.
_MAILBOX_TABLES = ("mailbox_filed", "mailbox_fresh")
FILE_EVERY = 2048  # entries in mailbox_fresh, about, before a commit moves them: one sorted pass, ~10 ms here


def _owner_any_state(owner: str) -> tuple[str, str]:
    """Like :func:`_owner`, in whatever state the deliveries are (a fetch again, an acknowledgement)."""
    if owner.startswith(ROUTE_KEY):
        return "d.target = ? AND d.mode = 'peer'", owner[len(ROUTE_KEY):]
    return "d.recipient = ? AND d.mode NOT IN ('upstream', 'peer')", owner


# The deliveries of one package that share a mode and a target, from a JSON array of recipient codes.
_INSERT_DELIVERIES = (
    "INSERT INTO deliveries (message_seq, recipient, mode, target, state, priority, accepted_ns, next_attempt_ns, "
    f"updated_at) SELECT ?1, value, ?2, ?3, '{State.QUEUED.value}', ?4, ?5, ?6, ?7 FROM json_each(?8)")
_JSON_LIST = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _after(state: State) -> str:
    """What a delivery's ledger entry adds when the copy was a dead letter."""
    return " after push gave up" if state is State.DEAD else ""


def _mailbox_item(row: tuple) -> MailboxItem:  # type: ignore[type-arg]
    return MailboxItem(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], State(row[9]))


class SqliteStore:
    """Both store roles over one connection; writers use it on the writer thread only."""

    def __init__(self, path: Path, readonly: bool = False, sync_apart: bool = False) -> None:
        """``sync_apart``: COMMIT hands the transaction to the OS and :meth:`make_durable` puts it on disk (the
        writer thread's group commit, see :mod:`axis.storage.writer`); otherwise COMMIT is durable when it returns."""
        self.path = path
        self.db = _connect(path, readonly)
        self.conn = self.db.conn
        self._wal: tuple[int, int] | None = None  # (fd, inode) of the WAL file, when the fsync is made apart
        self._lost: sqlite3.Error | None = None  # what rolled the current transaction back whole (see savepoint)
        self._unfiled = 0  # deliveries stored since mailbox_fresh was last moved into mailbox_filed (about)
        if not readonly:
            # FULL is NORMAL plus an fsync of the WAL at every COMMIT.  With sync_apart that fsync is made by
            # make_durable instead, from another thread, while the next group runs; NORMAL keeps SQLite's own
            # syncs around checkpoints and of the WAL's header, so the database file is as safe as with FULL.
            # Asking for the journal mode opens (or creates) the WAL: our own descriptor of it is taken now, the
            # file SQLite writes to for as long as this connection is open.
            if sync_apart and self.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                fd = os.open(f"{path}-wal", os.O_RDONLY)
                self._wal = (fd, os.fstat(fd).st_ino)
                self.conn.execute("PRAGMA synchronous = NORMAL")
                # A checkpoint (the WAL copied back into the database file, two fsyncs) runs inside a COMMIT and
                # holds the writer.  At SQLite's default of every 1,000 pages it took 16% of the writer's time (30
                # ms every 200 packages).  Every 2,000 pages (an 8 MB WAL) copies each hot index page once for
                # twice as many packages: 10% of the time, and stalls no longer.  4,000 pages went faster still,
                # but stalled 40 ms, which showed in the p99 (bench/bench_writer.py).
                self.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            else:
                self.conn.execute("PRAGMA synchronous = FULL")
            # A move of the fresh mailbox entries (see FILE_EVERY) writes thousands at random places of the large
            # table: with SQLite's default 2 MB cache it re-read those pages from the OS each time.
            self.conn.execute("PRAGMA cache_size = -65536")
            # Each INSERT inside the group's transaction keeps the pages it changes in a statement journal; by
            # default one over 64 KiB spills to a temporary file, which a fan-out's random pages always did.
            self.conn.execute("PRAGMA temp_store = MEMORY")

    def close(self) -> None:
        if self._wal is not None:
            os.close(self._wal[0])
            self._wal = None
        self.db.close()

    def make_durable(self) -> None:
        """Put every transaction committed so far on disk (an fdatasync of the WAL file, which they were appended
        to).  Called on a thread of its own while the writer goes on; a no-op unless opened ``sync_apart``."""
        if self._wal is None:
            return
        fd, inode = self._wal
        # SQLite never replaces the WAL of an open database; something else did (a restore under a running daemon):
        # what SQLite writes can no longer be made durable through this file.
        if os.fstat(fd).st_nlink == 0 or os.stat(f"{self.path}-wal").st_ino != inode:
            raise OSError(f"{self.path}-wal was removed or replaced while axisd had the database open")
        os.fdatasync(fd)

    # -- transactions (writer thread)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction that takes the write lock first (``BEGIN IMMEDIATE``): a deferred one would read,
        then fail at once with "database is locked" when another process writes, instead of waiting for it."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        self._lost = None
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            lost, self._lost = self._lost, None
        if lost is not None:  # SQLite rolled the whole transaction back: nothing of it is stored, say why
            raise lost
        filing = self._unfiled >= FILE_EVERY
        try:
            if filing:  # with this group's commit, in the order of the large table's key
                conn.execute("INSERT OR IGNORE INTO mailbox_filed SELECT recipient, priority, message_seq "
                             "FROM mailbox_fresh")
                conn.execute("DELETE FROM mailbox_fresh")
            conn.execute("COMMIT")
        except BaseException:  # nothing of the group is durable; leave the connection ready for the next one
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if filing:
            self._unfiled = 0

    @contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        """Interrupt a statement still running ``seconds`` from now: a read its request no longer waits for (the
        client was answered ``http.timeout``) gives its thread back instead of holding it to the end."""
        end = time.monotonic() + seconds
        self.conn.set_progress_handler(lambda: time.monotonic() > end, PROGRESS_STEPS)
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc) or time.monotonic() <= end:
                raise
            raise AxisError.of(Code.HTTP_TIMEOUT, f"a read ran past {seconds:g} s and was stopped") from None
        finally:
            self.conn.set_progress_handler(None, 0)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One job inside :meth:`transaction`.  Some errors (SQLITE_FULL, IOERR, NOMEM in a statement) make SQLite
        roll the whole transaction back: the group is lost, and a later job must not run, since its SAVEPOINT would
        begin, and its RELEASE commit, a transaction of its own (stored, yet answered as failed with its group)."""
        if self._lost is not None:
            raise self._lost
        self.conn.execute("SAVEPOINT job")
        try:
            yield
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK TO SAVEPOINT job")
                self.conn.execute("RELEASE SAVEPOINT job")
            elif self._lost is None:
                self._lost = exc if isinstance(exc, sqlite3.Error) else sqlite3.OperationalError(
                    f"the transaction was rolled back ({exc})")
            raise
        self.conn.execute("RELEASE SAVEPOINT job")

    # -- writes

    def duplicate(self, sender: str, sha256: str) -> Stored | None:
        """The message ``sender`` already sent with these exact bytes, with where its deliveries stand now."""
        row = self.conn.execute("SELECT seq, id, receipt FROM messages WHERE sender = ? AND sha256 = ?",
                                (sender, sha256)).fetchone()
        if row is None:
            return None
        states = tuple((r[0], State(r[1])) for r in self.conn.execute(
            "SELECT recipient, state FROM deliveries WHERE message_seq = ? ORDER BY recipient", (row[0],)))
        return Stored(row[1], row[2], duplicate=True, deliveries=states)

    def document(self, doc_sender: str, document_id: str) -> DocumentFacts | None:
        """The first new document or replacement ``doc_sender`` sent as ``document_id`` (revokes and updates reuse
        the id and are not documents of their own), with its copies: its own, and those of the recipients its
        updates added (an update is the first copy such a recipient has; the earliest one counts)."""
        row = self.conn.execute(
            "SELECT seq, id, sha256, accepted_at FROM messages WHERE document_id = ? AND doc_sender = ? "
            "AND kind = 'edoc' AND coalesce(business_type, 0) NOT IN (1, 2) ORDER BY seq LIMIT 1",
            (document_id, doc_sender)).fetchone()
        if row is None:
            return None
        deliveries = {r[0]: (State(r[1]), r[2]) for r in self.conn.execute(
            "SELECT recipient, state, mode FROM deliveries WHERE message_seq = ?", (row[0],))}
        added_by: dict[str, str] = {}
        for recipient, state, mode, message_id in self.conn.execute(
                "SELECT d.recipient, d.state, d.mode, m.id FROM messages m JOIN deliveries d ON d.message_seq = m.seq "
                "WHERE m.original_id = ? AND m.doc_sender = ? AND m.kind = 'edoc' AND m.business_type = 2 "
                "AND m.seq > ? ORDER BY m.seq", (document_id, doc_sender, row[0])):
            if recipient not in deliveries:
                deliveries[recipient] = (State(state), mode)
                added_by[recipient] = message_id
        return DocumentFacts(row[1], row[2], row[3], deliveries, added_by)

    def request_original(self, doc_sender: str, document_id: str) -> str | None:
        """The document the latest revoke or update ``doc_sender`` sent under its own ``document_id`` acts on: a
        recipient may answer one by that id (the SDK's update sample has one apart from Bussiness/DocumentId)."""
        row = self.conn.execute(
            "SELECT original_id FROM messages WHERE document_id = ? AND doc_sender = ? AND kind = 'edoc' "
            "AND business_type IN (1, 2) AND original_id IS NOT NULL ORDER BY seq DESC LIMIT 1",
            (document_id, doc_sender)).fetchone()
        return str(row[0]) if row is not None else None

    def requests_made(self, doc_sender: str, document_id: str, recipient: str) -> list[tuple[str, str]]:
        """(request, DocumentId it acts on) for each request ``doc_sender``'s packages with the DocumentId
        ``document_id`` made of ``recipient``, in the order they were accepted."""
        return [(r[0], r[1]) for r in self.conn.execute(
            "SELECT q.request, q.document_id FROM messages m JOIN requests q ON q.message_seq = m.seq "
            "WHERE m.document_id = ? AND m.doc_sender = ? AND m.kind = 'edoc' AND q.recipient = ? ORDER BY q.id",
            (document_id, doc_sender, recipient))]

    def last_request(self, doc_sender: str, document_id: str, recipient: str) -> tuple[str, str | None] | None:
        """(request, the DocumentId of the package that made it) of the latest revoke, update or replacement
        ``doc_sender`` made of ``recipient`` about ``document_id``."""
        row = self.conn.execute(
            "SELECT q.request, m.document_id FROM requests q JOIN messages m ON m.seq = q.message_seq "
            "WHERE q.document_id = ? AND q.doc_sender = ? AND q.recipient = ? ORDER BY q.id DESC LIMIT 1",
            (document_id, doc_sender, recipient)).fetchone()
        return (row[0], row[1]) if row is not None else None

    def history(self, doc_sender: str, document_id: str, recipient: str) -> list[str]:
        """The business steps of one document for one recipient, in the order axis accepted them: the status
        codes of the business ledger and the requests (revoke, update, replace) that reached the recipient."""
        rows = self.conn.execute(
            "SELECT message_seq, 1, id, status_code FROM business_ledger "
            "WHERE document_id = ? AND doc_sender = ? AND recipient = ? "
            "UNION ALL SELECT message_seq, 0, id, request FROM requests "
            "WHERE document_id = ? AND doc_sender = ? AND recipient = ? "
            "ORDER BY 1, 2, 3",  # within one package, its request comes before axis's answer to it
            (document_id, doc_sender, recipient, document_id, doc_sender, recipient)).fetchall()
        return [r[3] for r in rows]

    def _seq(self, message_id: str) -> int:
        row = self.conn.execute("SELECT seq FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise AxisError.of(Code.MESSAGE_NOT_FOUND, message_id)
        return int(row[0])

    def record_business(self, event: BusinessEvent) -> None:
        """A business ledger entry that is not a status package of its own (axis answering for a withdrawal)."""
        assert event.message_id is not None
        self._insert_business(self._seq(event.message_id), event)

    def _insert_business(self, seq: int, b: BusinessEvent) -> None:
        last = self.conn.execute("SELECT max(at) FROM business_ledger WHERE document_id = ? AND doc_sender = ?",
                                 (b.document_id, b.doc_sender)).fetchone()[0]
        self.conn.execute(
            "INSERT INTO business_ledger (doc_sender, document_id, recipient, status_code, author, message_seq, at, "
            "status_time, description) VALUES (?,?,?,?,?,?,?,?,?)",
            (b.doc_sender, b.document_id, b.recipient, b.status_code, b.author, seq, _not_before(b.at, last),
             b.status_time, b.description))

    def record_request(self, message_id: str, request: str, doc_sender: str, document_id: str,
                       recipient: str) -> None:
        self.conn.execute("INSERT INTO requests (message_seq, request, doc_sender, document_id, recipient) "
                          "VALUES (?,?,?,?,?)", (self._seq(message_id), request, doc_sender, document_id, recipient))

    def record_agency_request(self, at: str, requested_by: str, action: str, agency: str, detail: str) -> int:
        cursor = self.conn.execute("INSERT INTO agency_requests (at, requested_by, action, agency, detail) "
                                   "VALUES (?,?,?,?,?)", (at, requested_by, action, agency, detail))
        return int(cursor.lastrowid or 0)

    def probe(self, at: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO readiness_probe (id, at) VALUES (1, ?)", (at,))

    def record_audit(self, at: str, actor: str, action: str, detail: str) -> None:
        self.conn.execute("INSERT INTO audit_log (at, actor, action, detail) VALUES (?,?,?,?)",
                          (at, actor, action, detail))

    def audit(self, limit: int) -> list[AuditEntry]:
        return [AuditEntry(*r) for r in self.conn.execute(
            "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?", (limit,))]

    def agency_requests(self, limit: int) -> list[AgencyRequest]:
        return [AgencyRequest(*r) for r in self.conn.execute(
            "SELECT id, at, requested_by, action, agency, detail FROM agency_requests ORDER BY id DESC LIMIT ?",
            (limit,))]

    def take_back(self, message_id: str, recipient: str, state: State, at: str, detail: str) -> None:
        """Withdraw or supersede one unfetched delivery (the caller checked that it is still queued)."""
        event = Event.WITHDRAWN if state is State.WITHDRAWN else Event.SUPERSEDED
        self._set_state(self._seq(message_id), recipient, state, at, event, detail, next_attempt_ns=None)

    def store_message(self, msg: NewMessage) -> Stored:
        c = self.conn
        c.execute("INSERT OR IGNORE INTO payloads (sha256, size, data) VALUES (?, ?, ?)",
                  (msg.sha256, len(msg.data), msg.data))
        seq = c.execute(
            "INSERT INTO messages (id, kind, sender, document_id, doc_sender, status_code, priority, sha256, size, "
            "accepted_at, accepted_ns, signature, receipt, business_type, original_id) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (msg.message_id, msg.kind, msg.sender, msg.document_id, msg.doc_sender, msg.status_code, msg.priority,
             msg.sha256, len(msg.data), msg.accepted_at, msg.accepted_ns, msg.signature, msg.receipt,
             msg.business_type, msg.original_id)).lastrowid
        assert seq is not None
        at = msg.accepted_at
        # One INSERT per (mode, target) rather than one per delivery: each statement journals every page it
        # changes once (the deliveries' pages, and by trigger those of mailbox_fresh).
        groups: dict[tuple[str, str | None], list[str]] = {}
        by_mode: dict[str, list[str]] = {}
        for d in msg.deliveries:
            groups.setdefault((d.mode, d.target), []).append(d.recipient)
            by_mode.setdefault(d.mode, []).append(d.recipient)
        self._unfiled += len(msg.deliveries)
        for (mode, target), codes in groups.items():
            c.execute(_INSERT_DELIVERIES, (seq, mode, target, msg.priority, msg.accepted_ns,
                                           None if mode in ("pull", "peer") else msg.accepted_ns, at,
                                           _JSON_LIST(codes)))
        # One "queued" entry names every recipient (by mode): a document to 63 agencies stays one write, not 64.
        queued = "; ".join(f"{mode}: {', '.join(codes)}" for mode, codes in by_mode.items())
        c.execute("INSERT INTO transport_ledger (message_seq, recipient, event, at, detail) "
                  "VALUES (?1, NULL, ?2, ?3, ?4), (?1, NULL, ?5, ?3, ?6)",
                  (seq, Event.ACCEPTED.value, at, f"{msg.kind} from {msg.sender}, {len(msg.data)} bytes"
                   + (f", relayed along route {msg.via}" if msg.via else "")
                   + (f" (not sent back along it for {', '.join(msg.left)})" if msg.left else ""),
                   Event.QUEUED.value, queued))
        if msg.business is not None:
            self._insert_business(seq, msg.business)
        return Stored(msg.message_id, msg.receipt, duplicate=False)

    def _delivery(self, recipient: str, message_id: str) -> tuple[int, str] | None:
        """(message seq, state) of one delivery, whoever takes it."""
        row = self.conn.execute(
            "SELECT d.message_seq, d.state FROM deliveries d JOIN messages m ON m.seq = d.message_seq "
            "WHERE m.id = ? AND d.recipient = ?", (message_id, recipient)).fetchone()
        return (row[0], row[1]) if row else None

    def _set_state(self, seq: int, recipient: str, state: State, at: str, event: Event, detail: str | None,
                   **extra: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in extra)
        at = self._ledger(seq, recipient, event, at, detail)
        self.conn.execute(f"UPDATE deliveries SET state = ?, updated_at = ?{', ' + sets if sets else ''} "
                          "WHERE message_seq = ? AND recipient = ?",
                          (state.value, at, *extra.values(), seq, recipient))

    def _ledger(self, seq: int, recipient: str, event: Event, at: str, detail: str | None) -> str:
        """Append one transport entry, never dated before the message's previous one (the clock may have been
        set back meanwhile); returns the time written."""
        last = self.conn.execute("SELECT max(at) FROM transport_ledger WHERE message_seq = ?", (seq,)).fetchone()[0]
        at = _not_before(at, last)
        self.conn.execute("INSERT INTO transport_ledger (message_seq, recipient, event, at, detail) "
                          "VALUES (?,?,?,?,?)", (seq, recipient, event.value, at, detail))
        return at

    def _owned(self, owner: str, message_id: str) -> list[tuple[int, str, State]]:
        """(message seq, recipient, state) of the deliveries of ``message_id`` that ``owner`` takes (any state):
        at most one for an agency, one per recipient behind it for a pull route's axis."""
        where, param = _owner_any_state(owner)
        return [(r[0], r[1], State(r[2])) for r in self.conn.execute(
            "SELECT d.message_seq, d.recipient, d.state FROM deliveries d JOIN messages m ON m.seq = d.message_seq "
            f"WHERE m.id = ? AND {where} ORDER BY d.recipient", (message_id, param))]

    def _live(self, owner: str, message_id: str) -> list[tuple[int, str, State]]:
        """Those of :meth:`_owned` its sender did not take back; ``message.not-found`` or ``message.withdrawn``
        when there are none."""
        rows = self._owned(owner, message_id)
        if not rows:
            raise AxisError.of(Code.MESSAGE_NOT_FOUND, message_id)
        live = [r for r in rows if r[2] not in TAKEN_BACK]
        if not live:
            raise AxisError.of(Code.MESSAGE_WITHDRAWN, message_id)
        return live

    def mark_fetched(self, recipient: str, message_id: str, at: str) -> bool:
        """The first fetch of a queued package (or of a dead letter: the recipient has it now) delivers it; later
        fetches change nothing.  A package its sender took back meanwhile raises ``message.withdrawn``: the caller
        must not hand it over."""
        try:
            live = self._live(recipient, message_id)
        except AxisError as exc:
            if exc.code is Code.MESSAGE_NOT_FOUND:
                return False
            raise
        changed = False
        by = "fetched by the recipient" if not recipient.startswith(ROUTE_KEY) else \
            f"fetched by the axis of route {recipient[len(ROUTE_KEY):]}"
        for seq, code, state in live:
            if state in UNDELIVERED:
                self._set_state(seq, code, State.DELIVERED, at, Event.DELIVERED, by + _after(state),
                                next_attempt_ns=None)
                changed = True
        return changed

    def acknowledge(self, recipient: str, message_id: str, result: AckResult, reason: str | None,
                    at: str) -> State:
        new_state = State.PROCESSING
        for seq, code, state in self._live(recipient, message_id):
            new_state = self._acknowledge_one(seq, code, state, message_id, result, reason, at)
        return new_state

    def _acknowledge_one(self, seq: int, recipient: str, state: State, message_id: str, result: AckResult,
                         reason: str | None, at: str) -> State:
        if state in (State.DONE, State.FAILED):
            if (state is State.DONE) == (result is AckResult.DONE):
                return state  # the same answer again: idempotent
            raise AxisError.of(Code.HTTP_BAD_REQUEST, f"message {message_id} was already acknowledged as "
                               f"{state.value}")
        if state in UNDELIVERED:  # acknowledged without a fetch we saw (e.g. pushed, then acked): it arrived
            self._set_state(seq, recipient, State.DELIVERED, at, Event.DELIVERED,
                            "acknowledged by the recipient" + _after(state), next_attempt_ns=None)
        new_state, event = {
            AckResult.DONE: (State.DONE, Event.ACKNOWLEDGED),
            AckResult.FAIL: (State.FAILED, Event.FAILED),
            AckResult.PROCESSING: (State.PROCESSING, Event.PROCESSING),
        }[result]
        if new_state is State.PROCESSING and state is State.PROCESSING:
            return state
        detail = f"recipient: {result.value}" + (f" ({reason})" if reason else "")
        self._set_state(seq, recipient, new_state, at, event, detail)
        return new_state

    def _queued_seq(self, job: PushJob) -> int | None:
        """The job's message seq while its delivery is still queued; None once a fetch or an ack won."""
        found = self._delivery(job.recipient, job.message_id)
        return found[0] if found is not None and found[1] == State.QUEUED.value else None

    def push_succeeded(self, job: PushJob, at: str, detail: str) -> bool:
        """Record a delivery.  Along a route one transfer carries the package for every recipient behind it, so
        the other queued copies for that route are delivered with it."""
        seq = self._queued_seq(job)
        if seq is None:
            return False
        for recipient in self._carried(seq, job):
            self._set_state(seq, recipient, State.DELIVERED, at, Event.DELIVERED, detail,
                            attempts=job.attempts + 1, next_attempt_ns=None, last_error=None)
        return True

    def _carried(self, seq: int, job: PushJob) -> list[str]:
        """The queued copies one attempt of ``job`` carries: its own, and along a route every other one behind it."""
        recipients = [job.recipient]
        if job.mode == "upstream":
            recipients += [r[0] for r in self.conn.execute(
                "SELECT recipient FROM deliveries WHERE message_seq = ? AND mode = 'upstream' AND target = ? "
                "AND state = 'queued' AND recipient != ?", (seq, job.target, job.recipient))]
        return recipients

    def push_failed(self, job: PushJob, at: str, error: str, now_ns: int, next_attempt_ns: int | None) -> bool:
        """Record a failed attempt; ``next_attempt_ns`` None means give up (dead letter).  Along a route the attempt
        was one for every copy it carried: they are retried together, once, and given up together."""
        seq = self._queued_seq(job)
        if seq is None:
            return False
        first = job.first_failure_ns if job.first_failure_ns is not None else now_ns
        attempts = job.attempts + 1
        for recipient in self._carried(seq, job):
            if next_attempt_ns is None:
                self._set_state(seq, recipient, State.DEAD, at, Event.DEAD,
                                f"gave up after {attempts} attempts: {error}", attempts=attempts,
                                next_attempt_ns=None, first_failure_ns=first, last_error=error)
            else:
                written = self._ledger(seq, recipient, Event.FAILED, at, f"attempt {attempts}: {error}")
                self.conn.execute("UPDATE deliveries SET attempts = ?, next_attempt_ns = ?, first_failure_ns = ?, "
                                  "last_error = ?, updated_at = ? WHERE message_seq = ? AND recipient = ?",
                                  (attempts, next_attempt_ns, first, error, written, seq, recipient))
        return True

    def resend(self, message_ids: Sequence[str] | None, at: str, now_ns: int) -> int:
        """Put dead letters back in the push queue (all of them when ``message_ids`` is None)."""
        sql = ("SELECT d.message_seq, d.recipient FROM deliveries d JOIN messages m ON m.seq = d.message_seq "
               "WHERE d.state = 'dead'")
        params: list[object] = []
        if message_ids is not None:
            sql += f" AND m.id IN ({','.join('?' * len(message_ids))})"
            params = list(message_ids)
        rows = self.conn.execute(sql, params).fetchall()
        for seq, recipient in rows:
            self._set_state(seq, recipient, State.QUEUED, at, Event.RESENT, "resent by the operator",
                            attempts=0, next_attempt_ns=now_ns, first_failure_ns=None)
        return len(rows)

    # -- reads

    def mailbox(self, recipient: str, limit: int, kind: str | None = None, oldest: int = 0) -> list[MailboxItem]:
        """Pending packages for ``recipient``, most urgent first, then oldest first; when more wait than ``limit``,
        ``oldest`` of the places go to the oldest ones whatever their priority (nothing starves).  For a pull
        route's axis (``route:NAME``) each package is listed once, however many of its recipients are behind it."""
        if recipient.startswith(ROUTE_KEY):
            where, params = _peer_where(recipient, kind)
            return self._peer_mailbox(
                f"SELECT {_MAILBOX_COLUMNS}, d.message_seq FROM deliveries d JOIN messages m ON m.seq = d.message_seq "
                f"WHERE {where}", params, limit)
        with self._snapshot():
            urgent = self._boxed(recipient, kind, "", (), limit)
            if len(urgent) < limit or oldest <= 0:
                return [_mailbox_item(r) for r in urgent]
            # The oldest of each priority through the tables' order, then the oldest of those.
            old = sorted((r for p in range(PRIORITY_LEVELS)
                          for r in self._boxed(recipient, kind, " AND x.priority = ?", (p,), oldest)),
                         key=lambda r: r[-1])
        picked = _with_oldest(urgent, old, limit, oldest, key=lambda r: r[-1])
        return [_mailbox_item(r) for r in sorted(picked, key=lambda r: (-r[5], r[-1]))]

    def _boxed(self, recipient: str, kind: str | None, where: str, params: tuple[object, ...],
               limit: int) -> list[tuple]:  # type: ignore[type-arg]
        """The first ``limit`` rows of ``recipient``'s mailbox (most urgent, then oldest) from both its tables."""
        rows: list[tuple] = []  # type: ignore[type-arg]
        for table in _MAILBOX_TABLES:
            rows += self.conn.execute(
                f"SELECT {_MAILBOX_COLUMNS}, x.message_seq FROM {table} x "
                "JOIN deliveries d ON d.message_seq = x.message_seq AND d.recipient = x.recipient "
                "JOIN messages m ON m.seq = x.message_seq WHERE x.recipient = ?"
                + (" AND m.kind = ?" if kind is not None else "") + where
                + " ORDER BY x.priority DESC, x.message_seq LIMIT ?",
                (recipient, *((kind,) if kind is not None else ()), *params, limit)).fetchall()
        rows.sort(key=lambda r: (-r[5], r[-1]))
        return rows[:limit]

    def _peer_mailbox(self, sql: str, params: tuple[object, ...], limit: int) -> list[MailboxItem]:
        """Most urgent, then oldest, each message once.  A lower axis takes everything for its agencies at every
        poll, so no share is kept for the oldest: they wait only behind as many urgent ones as ``limit``."""
        seen: set[int] = set()
        out: list[MailboxItem] = []
        for row in self.conn.execute(sql + " ORDER BY d.priority DESC, d.message_seq", params):
            if row[-1] not in seen:
                seen.add(row[-1])
                out.append(_mailbox_item(row))
                if len(out) >= limit:
                    break
        return out

    def pending_count(self, recipient: str, kind: str | None = None) -> int:
        """How many packages wait in ``recipient``'s mailbox."""
        if recipient.startswith(ROUTE_KEY):
            where, params = _peer_where(recipient, kind)
            return int(self.conn.execute(f"SELECT count(DISTINCT d.message_seq) FROM deliveries d JOIN messages m "
                                         f"ON m.seq = d.message_seq WHERE {where}", params).fetchone()[0])
        join, where, params = ("", "", (recipient,)) if kind is None else (
            " x JOIN messages m ON m.seq = x.message_seq", " AND m.kind = ?", (recipient, kind))
        with self._snapshot():
            return sum(int(self.conn.execute(f"SELECT count(*) FROM {table}{join} WHERE recipient = ?{where}",
                                             params).fetchone()[0]) for table in _MAILBOX_TABLES)

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Several reads from one state of the database: a mailbox is read from both its tables, and a commit
        between the two reads could move entries from the one not yet read to the one already read."""
        if self.conn.in_transaction:  # the writer's own transaction
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def fetch(self, recipient: str, message_id: str) -> tuple[MailboxItem, bytes] | None:
        where, param = _owner_any_state(recipient)
        # A copy still live before one taken back, a queued one first (for a route's axis: several recipients).
        row = self.conn.execute(
            f"SELECT {_MAILBOX_COLUMNS}, p.data FROM deliveries d JOIN messages m ON m.seq = d.message_seq "
            f"JOIN payloads p ON p.sha256 = m.sha256 WHERE m.id = ? AND {where} "
            "ORDER BY d.state IN ('withdrawn', 'superseded'), d.state != 'queued' LIMIT 1",
            (message_id, param)).fetchone()
        return (_mailbox_item(row), row[10]) if row else None

    def payload(self, message_id: str) -> bytes | None:
        row = self.conn.execute("SELECT p.data FROM messages m JOIN payloads p ON p.sha256 = m.sha256 "
                                "WHERE m.id = ?", (message_id,)).fetchone()
        return row[0] if row else None

    def _views(self, where: str, params: Sequence[object]) -> list[MessageView]:
        rows = self.conn.execute(
            "SELECT seq, id, kind, sender, document_id, doc_sender, status_code, priority, sha256, size, "
            "accepted_at, signature, CASE WHEN kind = 'edoc' AND business_type IN (1, 2) THEN original_id END "
            f"FROM messages WHERE {where}", params).fetchall()
        views = []
        for r in rows:
            seq = r[0]
            deliveries = tuple(DeliveryView(d[0], d[1], d[2], State(d[3]), d[4], d[5], d[6]) for d in self.conn.execute(
                "SELECT recipient, mode, target, state, attempts, updated_at, last_error FROM deliveries "
                "WHERE message_seq = ? ORDER BY recipient", (seq,)))
            ledger = tuple(LedgerEntry(r[1], e[0], e[1], e[2], e[3]) for e in self.conn.execute(
                "SELECT recipient, event, at, detail FROM transport_ledger WHERE message_seq = ? ORDER BY id",
                (seq,)))
            business: tuple[BusinessEvent, ...] = ()
            # A revoke's or update's copies are steps of the document it acts on (a recipient an update added
            # has only this copy), whatever DocumentId of its own it has.
            document_id = r[12] if r[12] is not None else r[4]
            if document_id is not None and r[5] is not None:
                business = tuple(BusinessEvent(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8])
                                 for b in self.conn.execute(
                    "SELECT b.doc_sender, b.document_id, b.recipient, b.status_code, b.author, b.at, b.status_time, "
                    "b.description, m.id FROM business_ledger b JOIN messages m ON m.seq = b.message_seq "
                    "WHERE b.document_id = ? AND b.doc_sender = ? ORDER BY b.id", (document_id, r[5])))
            views.append(MessageView(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                                     deliveries, ledger, business))
        return views

    def message(self, message_id: str) -> MessageView | None:
        found = self._views("id = ?", (message_id,))
        return found[0] if found else None

    def sent(self, sender: str, limit: int, kind: str | None = None) -> list[MessageView]:
        """The latest ``limit`` messages of ``sender`` (of ``kind`` only, when given: the limit counts those)."""
        if kind is None:
            return self._views("seq IN (SELECT seq FROM messages WHERE sender = ? ORDER BY seq DESC LIMIT ?) "
                               "ORDER BY seq DESC", (sender, limit))
        return self._views("seq IN (SELECT seq FROM messages WHERE sender = ? AND kind = ? ORDER BY seq DESC "
                           "LIMIT ?) ORDER BY seq DESC", (sender, kind, limit))

    def trace(self, document_id: str, doc_sender: str | None = None) -> list[MessageView]:
        """Every message of a document: itself, its statuses, and the revokes, updates and replacements naming it."""
        if doc_sender is None:
            return self._views("document_id = ? OR original_id = ? ORDER BY seq", (document_id, document_id))
        return self._views("(document_id = ? OR original_id = ?) AND doc_sender = ? ORDER BY seq",
                           (document_id, document_id, doc_sender))

    def _jobs(self, where: str, params: Sequence[object]) -> list[tuple[PushJob, str | None, str]]:
        """(job, last error, updated at) for the deliveries ``where`` selects."""
        rows = self.conn.execute(
            "SELECT m.id, d.recipient, d.mode, d.target, d.attempts, d.first_failure_ns, m.sha256, d.priority, "
            "d.accepted_ns, m.kind, d.last_error, d.updated_at FROM deliveries d JOIN messages m "
            f"ON m.seq = d.message_seq WHERE {where}", params).fetchall()
        return [(PushJob(*r[:10]), r[10], r[11]) for r in rows]

    def due_pushes(self, now_ns: int, limit: int, oldest: int = 0, busy: Sequence[str] = (),
                   horizon_ns: int | None = None) -> list[PushJob]:
        """Queued push and upstream deliveries whose next attempt is due: most urgent, then oldest first, with
        ``oldest`` places kept for the longest waiting whatever their priority (nothing starves); none for the
        ``busy`` targets (URLs or routes that have all the attempts in flight they may have).  An attempt
        scheduled after ``horizon_ns`` was scheduled before the clock was set back: it is due too."""
        due = "d.state = 'queued' AND d.mode != 'pull' AND d.mode != 'peer' AND (d.next_attempt_ns <= ?" + (
            " OR d.next_attempt_ns > ?) " if horizon_ns is not None else ") ")
        # Along a route one attempt carries every queued copy behind it (:meth:`_carried`): one job per package and
        # route, or the copies of a transfer in flight fill the batch and no other delivery starts meanwhile.
        due += ("AND (d.mode != 'upstream' OR d.recipient = (SELECT min(u.recipient) FROM deliveries u "
                "WHERE u.message_seq = d.message_seq AND u.mode = 'upstream' AND u.target = d.target "
                "AND u.state = 'queued')) ")
        times: tuple[int, ...] = (now_ns,) if horizon_ns is None else (now_ns, horizon_ns)
        if busy:
            due += f"AND d.target NOT IN ({','.join('?' * len(busy))}) "
        urgent = [job for job, _, _ in self._jobs(due + "ORDER BY d.priority DESC, d.next_attempt_ns LIMIT ?",
                                                  (*times, *busy, limit))]
        if len(urgent) < limit or oldest <= 0:
            return urgent
        old = [job for job, _, _ in self._jobs(due + "ORDER BY d.accepted_ns LIMIT ?", (*times, *busy, oldest))]
        return _with_oldest(urgent, old, limit, oldest, key=lambda j: (j.message_id, j.recipient))

    def dead_letters(self, limit: int) -> list[tuple[PushJob, str | None, str]]:
        """Deliveries given up: (job, last error, since when)."""
        return self._jobs("d.state = 'dead' ORDER BY d.message_seq LIMIT ?", (limit,))

    def queue_depths(self) -> list[QueueDepth]:
        return [QueueDepth(r[0], r[1], r[2]) for r in self.conn.execute(
            "SELECT priority, count(*), min(accepted_ns) FROM deliveries WHERE state = 'queued' GROUP BY priority")]

    def copies(self, start: str, end: str | None, agency: str | AbstractSet[str] | None = None,
               unanswered: bool = False) -> list[DocumentCopy]:
        """Every copy of the documents axis accepted from ``start`` until before ``end`` (ISO times), with its
        business steps; only those ``agency`` (one code, or any of a set) sent or received, when given; only those
        not yet answered with 01, 02 or 03, when ``unanswered``.  A copy an update added (a recipient the document
        itself did not go to) counts from the update that first carried it, when that update is in the period."""
        copies = list(self.each_copy(start, end, agency, unanswered))
        copies.sort(key=lambda c: c.accepted_at)  # stable: within one time, in the order axis accepted them
        return copies

    def each_copy(self, start: str, end: str | None, agency: str | AbstractSet[str] | None = None,
                  unanswered: bool = False) -> Iterator[DocumentCopy]:
        """The copies of :meth:`copies`, in no particular order, one at a time: the overdue gauge goes through every
        unanswered copy of the last 30 days every minute, which as one list took memory in proportion."""
        yield from self._own_copies(start, end, agency, unanswered)
        yield from self._added_copies(start, end, agency, unanswered)

    def _own_copies(self, start: str, end: str | None, agency: str | AbstractSet[str] | None,
                    unanswered: bool) -> Iterator[DocumentCopy]:
        where = f"{_DOCUMENTS} AND m.accepted_at >= ?" + (" AND m.accepted_at < ?" if end is not None else "")
        params: list[object] = [start] if end is None else [start, end]
        copy_where, copy_params = where, list(params)
        one: object = agency
        among = "= ?"
        if agency is not None and not isinstance(agency, str):  # a set, as one JSON parameter however large
            one, among = _JSON_LIST(sorted(agency)), "IN (SELECT value FROM json_each(?))"
        if agency is not None:
            copy_where += f" AND (m.sender {among} OR d.recipient {among})"
            copy_params += [one, one]
        if unanswered:
            copy_where += f" AND NOT {_ANSWERED}"
        # Each document's steps per recipient: business ledger entries, and the requests that reached it (a
        # request comes before axis's own answer to it within one package, as in ``history``).
        # Unanswered copies need only what can close them (a recall or request and its answer).
        status_where, request_where = where, where
        if agency is not None:
            status_where += f" AND (m.sender {among} OR b.recipient {among})"
            request_where += f" AND (m.sender {among} OR q.recipient {among})"
            params += [one, one]
        if unanswered:
            status_where += " AND b.status_code IN ('13', '15', '16')"
        steps: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        for r in self.conn.execute(
                "SELECT b.document_id, b.doc_sender, b.recipient, b.status_code, b.at, b.message_seq, 1, b.id "
                "FROM messages m JOIN business_ledger b ON b.document_id = m.document_id AND b.doc_sender = m.sender "
                f"WHERE {status_where} "
                "UNION ALL SELECT q.document_id, q.doc_sender, q.recipient, q.request, qm.accepted_at, q.message_seq, "
                "0, q.id FROM messages m JOIN requests q ON q.document_id = m.document_id AND q.doc_sender = m.sender "
                f"JOIN messages qm ON qm.seq = q.message_seq WHERE {request_where} ORDER BY 6, 7, 8", params + params):
            steps.setdefault((r[0], r[1], r[2]), []).append((r[3], r[4]))
        for r in self.conn.execute(
                "SELECT m.id, m.document_id, m.sender, d.recipient, m.priority, m.accepted_at, d.mode, d.state, "
                "d.updated_at FROM messages m JOIN deliveries d ON d.message_seq = m.seq "
                f"WHERE {copy_where} AND m.document_id IS NOT NULL ORDER BY m.seq, d.recipient", copy_params):
            yield DocumentCopy(r[0], r[1], r[2], r[3], r[4], r[5], r[6], State(r[7]), r[8],
                               tuple(steps.get((r[1], r[2], r[3]), ())))

    def _added_copies(self, start: str, end: str | None, agency: str | AbstractSet[str] | None,
                      unanswered: bool) -> list[DocumentCopy]:
        """The copies updates in the period added: the earliest update to carry one to a recipient the document
        did not go to.  Few (updates are); each one's steps are read by its own indexed query."""
        where = ("u.kind = 'edoc' AND u.business_type = 2 AND u.original_id IS NOT NULL AND u.accepted_at >= ?"
                 + (" AND u.accepted_at < ?" if end is not None else ""))
        params: list[object] = [start] if end is None else [start, end]
        if agency is not None:
            one, among = ((agency, "= ?") if isinstance(agency, str)
                          else (_JSON_LIST(sorted(agency)), "IN (SELECT value FROM json_each(?))"))
            where += f" AND (o.sender {among} OR d.recipient {among})"
            params += [one, one]
        if unanswered:
            where += (" AND NOT EXISTS (SELECT 1 FROM business_ledger b WHERE b.document_id = o.document_id AND "
                      "b.doc_sender = o.sender AND b.recipient = d.recipient AND b.status_code IN ('01', '02', '03'))")
        rows = self.conn.execute(
            "SELECT o.id, o.document_id, o.sender, d.recipient, u.priority, u.accepted_at, d.mode, d.state, "
            "d.updated_at, u.id FROM messages u JOIN deliveries d ON d.message_seq = u.seq "
            "JOIN messages o ON o.seq = (SELECT min(x.seq) FROM messages x WHERE x.document_id = u.original_id "
            "AND x.doc_sender = u.sender AND x.kind = 'edoc' AND coalesce(x.business_type, 0) NOT IN (1, 2)) "
            f"WHERE {where} AND o.seq < u.seq "
            "AND NOT EXISTS (SELECT 1 FROM deliveries od WHERE od.message_seq = o.seq AND od.recipient = d.recipient) "
            "AND NOT EXISTS (SELECT 1 FROM messages e JOIN deliveries ed ON ed.message_seq = e.seq "
            "WHERE e.original_id = u.original_id AND e.doc_sender = u.sender AND e.kind = 'edoc' "
            "AND e.business_type = 2 AND e.seq > o.seq AND e.seq < u.seq AND ed.recipient = d.recipient) "
            "ORDER BY u.seq, d.recipient", params).fetchall()
        only = " AND status_code IN ('13', '15', '16')" if unanswered else ""
        copies = []
        for r in rows:
            steps = self.conn.execute(
                "SELECT status_code, at, message_seq, 1, id FROM business_ledger "
                f"WHERE document_id = ? AND doc_sender = ? AND recipient = ?{only} "
                "UNION ALL SELECT q.request, m.accepted_at, q.message_seq, 0, q.id FROM requests q "
                "JOIN messages m ON m.seq = q.message_seq WHERE q.document_id = ? AND q.doc_sender = ? "
                "AND q.recipient = ? ORDER BY 3, 4, 5", (r[1], r[2], r[3], r[1], r[2], r[3])).fetchall()
            copies.append(DocumentCopy(r[0], r[1], r[2], r[3], r[4], r[5], r[6], State(r[7]), r[8],
                                       tuple((s[0], s[1]) for s in steps), added_by=r[9]))
        return copies


# -- retention (see axis.storage.retention): the one way rows leave the ledgers

_WAITING = "('queued','delivered','processing')"  # PENDING_STATES, frozen here as in the migration below


@migrations(name="0008_retention")
def _m0008_retention(db: Database) -> None:
    """Retention removes what is past ``[storage] retention_days``, and nothing else may remove anything.

    A retention step first names the messages it removes in ``retention_doomed`` (a trigger refuses a message
    with a delivery still waiting, or accepted less than a day ago), then deletes their rows, and empties the
    table before it commits.  The ledgers' and the messages' DELETE triggers allow a row to go only while its
    message is named there; a waiting delivery can never be deleted.  Each step is recorded in the append-only
    ``retention_log``.  The indexes let a step find the oldest messages, and a message's business entries, requests
    and payload, without a scan."""
    db.execute("CREATE TABLE retention_doomed (seq INTEGER PRIMARY KEY)")
    db.execute(f"""
        CREATE TRIGGER retention_doomed_finished BEFORE INSERT ON retention_doomed
        WHEN EXISTS (SELECT 1 FROM deliveries WHERE message_seq = NEW.seq AND state IN {_WAITING})
        BEGIN SELECT RAISE(ABORT, 'retention: a delivery of this message is still waiting'); END""")
    db.execute("""
        CREATE TRIGGER retention_doomed_old BEFORE INSERT ON retention_doomed
        WHEN (SELECT accepted_ns FROM messages WHERE seq = NEW.seq)
             > (CAST(strftime('%s', 'now') AS INTEGER) - 86400) * 1000000000
        BEGIN SELECT RAISE(ABORT, 'retention: this message was accepted less than a day ago'); END""")
    for table in ("transport_ledger", "business_ledger"):
        db.execute(f"DROP TRIGGER {table}_no_delete")
        db.execute(f"""
            CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            WHEN NOT EXISTS (SELECT 1 FROM retention_doomed WHERE seq = OLD.message_seq)
            BEGIN SELECT RAISE(ABORT, 'the {table.replace("_", " ")} is append-only (only retention removes entries)');
            END""")
    db.execute("""
        CREATE TRIGGER messages_no_delete BEFORE DELETE ON messages
        WHEN NOT EXISTS (SELECT 1 FROM retention_doomed WHERE seq = OLD.seq)
        BEGIN SELECT RAISE(ABORT, 'messages are removed only by retention'); END""")
    db.execute(f"""
        CREATE TRIGGER deliveries_no_delete_waiting BEFORE DELETE ON deliveries
        WHEN OLD.state IN {_WAITING}
        BEGIN SELECT RAISE(ABORT, 'a delivery still waiting cannot be removed'); END""")
    db.execute("""
        CREATE TABLE retention_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            cutoff TEXT NOT NULL,
            messages INTEGER NOT NULL,
            first_seq INTEGER,
            last_seq INTEGER,
            transport_entries INTEGER NOT NULL,
            business_entries INTEGER NOT NULL,
            payloads INTEGER NOT NULL,
            payload_bytes INTEGER NOT NULL)""")
    _append_only(db, "retention_log", "the retention log")
    db.execute("CREATE INDEX messages_accepted_ns ON messages(accepted_ns)")
    db.execute("CREATE INDEX messages_sha256 ON messages(sha256)")
    db.execute("CREATE INDEX business_ledger_message ON business_ledger(message_seq)")
    db.execute("CREATE INDEX requests_message ON requests(message_seq)")


_KEPT = "('queued','delivered','processing','dead')"  # what retention never removes: waiting, or given up (resend)


@migrations(name="0009_retention_keeps_dead_letters")
def _m0009(db: Database) -> None:
    """A dead letter was accepted and never delivered (``axisctl resend`` may still send it): retention must keep it
    as it keeps a waiting one.  0008's triggers named only the waiting states."""
    for trigger in ("retention_doomed_finished", "deliveries_no_delete_waiting"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute(f"""
        CREATE TRIGGER retention_doomed_finished BEFORE INSERT ON retention_doomed
        WHEN EXISTS (SELECT 1 FROM deliveries WHERE message_seq = NEW.seq AND state IN {_KEPT})
        BEGIN SELECT RAISE(ABORT, 'retention: a delivery of this message is still waiting or a dead letter'); END""")
    db.execute(f"""
        CREATE TRIGGER deliveries_no_delete_waiting BEFORE DELETE ON deliveries
        WHEN OLD.state IN {_KEPT}
        BEGIN SELECT RAISE(ABORT, 'a delivery still waiting or a dead letter cannot be removed'); END""")


@migrations(name="0010_readiness_probe")
def _m0010(db: Database) -> None:
    """One row that /readyz rewrites while the last commit failed: after a full disk, nothing else may write (a load
    balancer keeps the traffic away), and the daemon must still see when writes commit again."""
    db.execute("CREATE TABLE readiness_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)")


_BOXED = "NOT IN ('upstream','peer')"  # the modes of the deliveries an agency's own mailbox lists


@migrations(name="0011_mailbox_tables")
def _m0011(db: Database) -> None:
    """The mailbox leaves the deliveries table for two tables of its own: new entries go to a small one
    (``mailbox_fresh``), moved now and then in one sorted pass into the large one (``mailbox_filed``).

    The partial index it replaces took each new delivery at its recipient's place: a document to 63 agencies
    changed 63 of its pages, every one written to the WAL at every commit, even two documents per commit.  The
    small table's pages are few and each takes many entries; the move writes each page of the large one once for
    thousands of entries.  Triggers keep both exact as deliveries come and leave the waiting states (a waiting
    delivery is never deleted: 0009)."""
    for table in ("mailbox_filed", "mailbox_fresh"):
        db.execute(f"""
            CREATE TABLE {table} (
                recipient TEXT NOT NULL,
                priority INTEGER NOT NULL,
                message_seq INTEGER NOT NULL,
                PRIMARY KEY (recipient, priority DESC, message_seq)) WITHOUT ROWID""")
    db.execute("INSERT INTO mailbox_filed SELECT recipient, priority, message_seq FROM deliveries "
               f"WHERE state IN {_WAITING} AND mode {_BOXED}")
    db.execute("DROP INDEX deliveries_mailbox")
    db.execute(f"""
        CREATE TRIGGER mailbox_in AFTER INSERT ON deliveries
        WHEN NEW.state IN {_WAITING} AND NEW.mode {_BOXED}
        BEGIN INSERT INTO mailbox_fresh VALUES (NEW.recipient, NEW.priority, NEW.message_seq); END""")
    db.execute(f"""
        CREATE TRIGGER mailbox_back AFTER UPDATE OF state ON deliveries
        WHEN NEW.state IN {_WAITING} AND OLD.state NOT IN {_WAITING} AND NEW.mode {_BOXED}
        BEGIN INSERT OR IGNORE INTO mailbox_fresh VALUES (NEW.recipient, NEW.priority, NEW.message_seq); END""")
    db.execute(f"""
        CREATE TRIGGER mailbox_out AFTER UPDATE OF state ON deliveries
        WHEN OLD.state IN {_WAITING} AND NEW.state NOT IN {_WAITING} AND OLD.mode {_BOXED}
        BEGIN
            DELETE FROM mailbox_fresh
            WHERE recipient = OLD.recipient AND priority = OLD.priority AND message_seq = OLD.message_seq;
            DELETE FROM mailbox_filed
            WHERE recipient = OLD.recipient AND priority = OLD.priority AND message_seq = OLD.message_seq;
        END""")
