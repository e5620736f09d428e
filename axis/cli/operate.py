"""axisctl commands that operate a running (or stopped) axis through its data directory.

    axisctl dead-letters [--limit N] [--json]    deliveries given up, with the last error
    axisctl resend ID... | --all                 queue dead letters again (the daemon picks them up)
    axisctl trace DOCUMENT [--from CODE] [--json] the whole history of a document: transport and business
    axisctl reload [--timeout S]                 ask axisd (SIGHUP) to reload, and print its verdict
    axisctl agency-requests [--limit N] [--json] registrations and removals asked through the VXP door
    axisctl audit [--limit N] [--json]           administrative actions: reloads, resends, agency requests
    axisctl overdue [--agency CODE] [--since DATE] [--json]
                                                 documents waiting for an answer past their deadline
    axisctl stats --from DATE --to DATE [--agency CODE] [--format table|csv|json]
                                                 per agency: sent, received, accepted, refused, done, overdue,
                                                 median time to 01, 03, 06 (see axis.stats)
    axisctl backup DIR                           a consistent copy of the data directory, axisd running or not
    axisctl restore DIR [--force]                put a backup back (axisd stopped; checksums checked first)
    axisctl retention [--dry-run] [--days N]     remove (or count) what is past [storage] retention_days

They open the SQLite store directly (WAL lets them run beside the daemon) and find the
data directory from ``--config`` (default ``conf/axisd.toml``) or ``--data-dir``.  ``overdue``
and ``stats`` also read the whole configuration: the working calendars and the registry.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Set as AbstractSet
from datetime import date, datetime, timedelta
from datetime import time as day_time
from functools import partial
from pathlib import Path
from typing import Any

from axis import deadlines, stats
from axis.agencycode import parse_tolerant
from axis.app import PID_FILE, RELOAD_STATUS_FILE, with_data_dir
from axis.config import AxisConfig, ConfigError
from axis.config import load as load_config
from axis.config._base import MAX_DAYS, read_toml
from axis.config.delivery import StorageConfig, read_storage
from axis.config.server import read_server
from axis.errors import AxisError
from axis.http.api import message_dict
from axis.storage import backup as backups
from axis.storage import retention
from axis.storage.sqlite import DB_NAME, SqliteStore, open_database
from axis.vntime import VN_TZ, iso
from axis.vntime import now as vn_now


class OperateError(Exception):
    pass


class UsageError(Exception):
    """Bad usage: exit 2."""


def _data_dir(args: argparse.Namespace) -> Path:
    """Only ``[server]`` is read: these commands must work while the rest of the configuration is being fixed."""
    if args.data_dir is not None:
        return Path(args.data_dir)
    path = Path(args.config)
    return read_server(path, read_toml(path).get("server", {})).data_dir


def _store(args: argparse.Namespace, readonly: bool = True) -> SqliteStore:
    path = _data_dir(args) / DB_NAME
    if not path.exists():
        raise OperateError(f"no axis database at {path} (has axisd run with this configuration?)")
    return SqliteStore(path, readonly=readonly)


def cmd_dead_letters(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rows = store.dead_letters(args.limit)
    finally:
        store.close()
    if args.json:
        for job, error, at in rows:
            print(json.dumps({"message_id": job.message_id, "recipient": job.recipient, "mode": job.mode,
                              "target": job.target, "attempts": job.attempts, "dead_since": at, "last_error": error},
                             ensure_ascii=False))
    else:
        if not rows:
            print("no dead letters")
        for job, error, at in rows:
            print(f"{job.message_id}  {job.recipient:<16} {job.mode:<8} attempts={job.attempts:<3} dead since {at}  "
                  f"{error or ''}")
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    if not args.all and not args.ids:
        raise UsageError("name the message ids to resend, or --all")
    store = _store(args, readonly=False)
    at = iso()
    try:
        with store.transaction():
            count = store.resend(None if args.all else args.ids, at, time.time_ns())
            which = "all dead letters" if args.all else ", ".join(args.ids)
            store.record_audit(at, operator(), "resend", f"{which}: {count} requeued")
    finally:
        store.close()
    if not count and not args.all:
        raise OperateError(f"no dead letter to requeue among {which} (axisctl dead-letters lists them)")
    print(f"requeued {count} dead letter(s)")
    return 0


def operator() -> str:
    """Who runs this command, for the audit log."""
    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid
        user = f"uid {os.getuid()}"
    return f"operator {user}@{socket.gethostname()}"


def cmd_audit(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rows = store.audit(args.limit)
    finally:
        store.close()
    for r in rows:
        if args.json:
            print(json.dumps({"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "detail": r.detail},
                             ensure_ascii=False))
        else:
            print(f"#{r.id}  {r.at}  {r.action:<16} by {r.actor}  {r.detail}")
    if not rows and not args.json:
        print("the audit log is empty")
    return 0


def cmd_agency_requests(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rows = store.agency_requests(args.limit)
    finally:
        store.close()
    for r in rows:
        if args.json:
            print(json.dumps({"id": r.id, "at": r.at, "requested_by": r.requested_by, "action": r.action,
                              "agency": r.agency, "detail": r.detail}, ensure_ascii=False))
        else:
            print(f"#{r.id}  {r.at}  {r.action:<8} {r.agency:<16} asked by {r.requested_by}  {r.detail}")
    if not rows and not args.json:
        print("no agency requests")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        views = store.trace(args.document, args.sender)
    finally:
        store.close()
    if not views:
        print(f"no package carries document {args.document!r}")
        return 1
    if args.json:
        print(json.dumps({"document_id": args.document, "packages": [message_dict(v) for v in views]},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"document {args.document}")
    for view in views:
        what = view.kind if view.status_code is None else f"status {view.status_code}"
        print(f"  {view.accepted_at}  {what} {view.message_id} from {view.sender} "
              f"({view.size} bytes, signature {view.signature})")
        for entry in view.ledger:
            print(f"      {entry.at}  {entry.event:<12} {entry.recipient or '-':<16} {entry.detail or ''}")
    business = next((v.business for v in views if v.business), ())
    if business:
        print("  business status per recipient:")
        for b in business:
            print(f"      {b.at}  {b.recipient:<16} {b.status_code} by {b.author}"
                  f"{' — ' + b.description if b.description else ''}")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    pid_path, status_path = data_dir / PID_FILE, data_dir / RELOAD_STATUS_FILE
    # A pid file left by a daemon that was killed may name another program now: SIGHUP would end it.
    pid = backups.running_daemon(data_dir)
    if pid is None:
        if not pid_path.exists():
            raise OperateError(f"axisd does not seem to run: no {pid_path}")
        raise OperateError(f"no axisd runs with pid file {pid_path} (a stale file: axisd was killed?)")
    before = status_path.stat().st_mtime_ns if status_path.exists() else 0
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise OperateError(f"no process {pid} (stale {pid_path})") from None
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if status_path.exists() and status_path.stat().st_mtime_ns != before:
            status: dict[str, Any] = json.loads(status_path.read_text(encoding="utf-8"))
            if status.get("ok"):
                print(f"axisd reloaded: {json.dumps(status.get('registry'), ensure_ascii=False)}")
                return 0
            print(f"axisd refused the new configuration (still running the old one): {status.get('error')}")
            return 1
        time.sleep(0.05)
    raise OperateError(f"no answer from axisd (pid {pid}) within {args.timeout:g} s")


def add_commands(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", default="conf/axisd.toml", help="axisd configuration (for the data dir)")
        p.add_argument("--data-dir", help="the daemon's data directory (instead of reading --config)")

    p = sub.add_parser("dead-letters", help="list deliveries that were given up")
    common(p)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_dead_letters)

    p = sub.add_parser("resend", help="queue dead letters for delivery again")
    common(p)
    p.add_argument("ids", nargs="*", metavar="MESSAGE_ID")
    p.add_argument("--all", action="store_true", help="every dead letter")
    p.set_defaults(func=cmd_resend)

    p = sub.add_parser("trace", help="the whole history of a document")
    common(p)
    p.add_argument("document", metavar="DOCUMENT_ID")
    p.add_argument("--from", dest="sender", help="the document's sender (canonical code), if ids collide")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("audit", help="administrative actions: reloads, resends, agency requests (newest first)")
    common(p)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("agency-requests", help="agency registrations and removals asked through the VXP door")
    common(p)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="one JSON object per line, newest first")
    p.set_defaults(func=cmd_agency_requests)

    p = sub.add_parser("overdue", help="documents waiting for an answer (01, 02 or 03) past their deadline")
    common(p)
    p.add_argument("--agency", help="only those addressed to this agency")
    p.add_argument("--since", metavar="DATE", help="accepted on or after this day (default: [deadlines] watch ago)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_overdue)

    p = sub.add_parser("stats", help="per agency statistics of the documents accepted in a period")
    common(p)
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help="first day (2026-11-01)")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="last day, included")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--agency", help="this agency only")
    which.add_argument("--under", metavar="CODE", help="this agency and every agency registered under it (parent), "
                       "as GET /v1/stats gives it to that agency")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("backup", help="copy the data directory consistently (axisd may run and write meanwhile)")
    common(p)
    p.add_argument("dir", metavar="DIR", help="a new or empty directory for the backup")
    p.add_argument("--pages", type=int, default=2048, help="database pages copied per step (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the manifest")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup into the data directory (axisd must be stopped)")
    common(p)
    p.add_argument("dir", metavar="DIR", help="a directory written by axisctl backup")
    p.add_argument("--force", action="store_true", help="replace an existing database and identity files")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("retention", help="remove what is past [storage] retention_days, in small steps")
    common(p)
    p.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    p.add_argument("--days", type=int, help="retention in days (default: [storage] retention_days of --config)")
    p.add_argument("--batch", type=int, help="messages per step (default: [storage] retention_batch)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("reload", help="make the running axisd reload its configuration")
    common(p)
    p.add_argument("--timeout", type=float, default=15.0)
    p.set_defaults(func=cmd_reload)


def _full_config(args: argparse.Namespace) -> tuple[AxisConfig, Path]:
    """The whole configuration (calendars, registry) and the store it names (or ``--data-dir``'s)."""
    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        raise OperateError(str(exc)) from None
    if args.data_dir is not None:
        config = with_data_dir(config, Path(args.data_dir))
    path = config.server.data_dir / DB_NAME
    if not path.exists():
        raise OperateError(f"no axis database at {path} (has axisd run with this configuration?)")
    return config, path


def _agency(config: AxisConfig, code: str | None) -> str | None:
    """The canonical code of ``code`` (either grammar); unregistered codes are read as written."""
    if code is None:
        return None
    found = config.registry.get(code)
    if found is not None:
        return found.key
    try:
        return parse_tolerant(code).canonical
    except AxisError as exc:
        raise OperateError(f"--agency {code!r}: {exc.problem.detail}") from None


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise OperateError(f"{option} expects a date such as 2026-11-01, got {text!r}") from None


def _duration(seconds: float | None) -> str:
    """``3d04h``, ``2h05m``, ``4m09s``: the table's time format (CSV and JSON give seconds)."""
    if seconds is None:
        return "-"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def cmd_overdue(args: argparse.Namespace) -> int:
    config, path = _full_config(args)
    agency = _agency(config, args.agency)
    now = vn_now()
    since = (iso(datetime.combine(_date(args.since, "--since"), day_time(), VN_TZ)) if args.since is not None
             else iso(now - timedelta(seconds=config.deadlines.watch)))
    store = SqliteStore(path, readonly=True)
    try:
        waiting = store.copies(since, None, agency, unanswered=True)
    finally:
        store.close()
    found = [p for p in deadlines.overdue(waiting, partial(config.deadlines.calendar_for, config.registry), now)
             if agency is None or p.copy.recipient == agency]
    found.sort(key=lambda p: (p.deadline, p.copy.recipient))
    if args.json:
        for p in found:
            c = p.copy
            print(json.dumps({"recipient": c.recipient, "document_id": c.document_id, "from": c.sender,
                              "message_id": c.message_id, "priority": c.priority, "accepted_at": c.accepted_at,
                              "deadline": iso(p.deadline), "late_seconds": p.late_by(now).total_seconds(),
                              "state": c.state.value}, ensure_ascii=False))
        return 0
    if not found:
        print(f"no overdue documents (accepted since {since}; as of {iso(now)})")
        return 0
    print(f"{len(found)} overdue (accepted since {since}; as of {iso(now)}):")
    for p in found:
        c = p.copy
        print(f"  {c.recipient:<16} late {_duration(p.late_by(now).total_seconds()):>7}  due {iso(p.deadline)}  "
              f"{c.document_id} from {c.sender} (priority {c.priority}, {c.state.value})")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    config, path = _full_config(args)
    agency = _agency(config, args.agency)
    scope: AbstractSet[str] | None = None if agency is None else {agency}  # None: every agency
    if args.under is not None:
        top = config.registry.get(args.under)
        if top is None:
            raise OperateError(f"--under {args.under!r}: not a registered agency")
        scope = config.registry.under(top.key)
    first, last = _date(args.start, "--from"), _date(args.end, "--to")
    try:
        start, end = stats.period(first, last)
    except ValueError as exc:
        raise OperateError(str(exc)) from None
    include = (lambda code: True) if scope is None else scope.__contains__
    store = SqliteStore(path, readonly=True)
    try:  # the copies one at a time: a year of a province's traffic is not held in memory
        report = stats.report(store.each_copy(start, end, None if scope is None else stats.selection(scope)),
                              partial(config.deadlines.calendar_for, config.registry), first.isoformat(),
                              last.isoformat(), vn_now(), include, config.registry.name)
    finally:
        store.close()
    rows = [a.to_dict() for a in report.agencies]
    if args.format == "json":
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=stats.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    else:
        print(f"documents accepted {report.start} to {report.end}, as of {iso(report.as_of)}")
        header = ("agency", "sent", "received", "accepted", "refused", "done", "overdue", "to 01", "to 03", "to 06")
        print(f"{header[0]:<16} " + " ".join(f"{h:>8}" for h in header[1:]) + "  name")
        for row in rows:
            counts = " ".join(f"{row[k]:>8}" for k in ("sent", "received", "accepted", "refused", "done", "overdue"))
            times = " ".join(f"{_duration(row[k]):>8}" for k in ("median_to_01", "median_to_03", "median_to_06"))
            print(f"{row['agency']:<16} {counts} {times}  {row['name'] or ''}")
        if not rows:
            print("(no documents in this period)")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    data_dir, dest = _data_dir(args), Path(args.dir)
    if args.pages <= 0:
        raise OperateError("--pages expects a positive number")
    try:
        manifest = backups.backup(data_dir, dest, pages=args.pages)
    except backups.BackupError as exc:
        raise OperateError(f"backup failed: {exc}") from None
    except KeyboardInterrupt:
        raise OperateError(f"backup interrupted; nothing usable was left in {dest}") from None
    if args.json:
        print(json.dumps(manifest, ensure_ascii=False, indent=2))
        return 0
    counts = manifest["row_counts"]
    print(f"backup OK: {dest} ({backups.describe(manifest['files'])}; {counts.get('messages', 0)} messages, "
          f"{counts.get('payloads', 0)} payloads; integrity ok; {manifest['seconds']:g} s)")
    if manifest["not_copied"]:
        print(f"axisctl: not copied (not regular files): {', '.join(manifest['not_copied'])}", file=sys.stderr)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    data_dir, src = _data_dir(args), Path(args.dir)
    pid = backups.running_daemon(data_dir)
    if pid is not None:
        raise OperateError(f"axisd (pid {pid}) runs on {data_dir}: stop it before restoring")
    try:
        manifest = backups.restore(src, data_dir, force=args.force)
        open_database(data_dir)  # the schema brought up to this axis's migrations, as axisd would on start
    except backups.BackupError as exc:
        raise OperateError(f"restore refused: {exc}") from None
    except KeyboardInterrupt:
        raise OperateError(f"restore interrupted: the database in {data_dir} is the old one unless the restore "
                           "had finished; run it again (with --force) before starting axisd") from None
    counts = manifest["row_counts"]
    print(f"restored {src} (made {manifest['created_at']} by axis {manifest['axis_version']}; "
          f"{counts.get('messages', 0)} messages) into {data_dir}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    if args.days is not None and not 1 <= args.days <= MAX_DAYS or args.batch is not None and args.batch <= 0:
        raise OperateError(f"--days expects 1..{MAX_DAYS}, --batch a positive number")
    days, batch = args.days, args.batch
    if days is None or batch is None:
        path = Path(args.config)
        try:
            storage = read_storage(path, read_toml(path).get("storage", {}))
        except ConfigError as exc:
            if days is None:
                raise OperateError(f"{exc} (or give --days)") from None
            storage = StorageConfig()
        days = storage.retention_days if days is None else days
        batch = storage.retention_batch if batch is None else batch
    cutoff = retention.cutoff_ns(days)
    store = _store(args, readonly=args.dry_run)
    total, kept_seqs, steps = retention.Counts(), set[int](), 0
    try:
        if args.dry_run:
            total, kept_seqs = retention.dry_run(store.conn, cutoff, batch)
        else:
            cursor, done = retention.START, False
            while not done:
                with store.transaction():
                    step = retention.step(store.conn, cutoff, cursor, batch)
                total.add(step.removed)
                kept_seqs |= step.kept
                cursor, done, steps = step.cursor, step.done, steps + 1
    except KeyboardInterrupt:
        raise OperateError(f"interrupted after removing {total.messages} messages (each step is committed); "
                           "run it again to continue") from None
    except sqlite3.Error as exc:
        raise OperateError(f"retention failed after removing {total.messages} messages: {exc}") from None
    finally:
        store.close()
    before, kept = retention.ns_iso(cutoff), len(kept_seqs)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "retention_days": days, "accepted_before": before,
                          **total.to_dict(), "kept_waiting": kept}, ensure_ascii=False))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(f"retention ({days} days): {verb} {total.messages} messages accepted before {before} "
          f"({total.deliveries} deliveries, {total.transport_entries} transport and {total.business_entries} business "
          f"ledger entries, {total.payloads} payloads of {total.payload_bytes} bytes)"
          + (f" in {steps} steps" if not args.dry_run else ""))
    if kept:
        print(f"kept {kept} messages past retention: their document still has a delivery waiting or a newer package")
    return 0
