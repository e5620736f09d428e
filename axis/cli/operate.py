"""axisctl commands that operate a running (or stopped) axis through its data directory.

    axisctl dead-letters [--limit N] [--json]    deliveries given up, with the last error
    axisctl resend ID... | --all                 queue dead letters again (the daemon picks them up)
    axisctl trace DOCUMENT [--from CODE] [--json] the whole history of a document: transport and business
    axisctl reload [--timeout S]                 ask axisd (SIGHUP) to reload, and print its verdict

They open the SQLite store directly (WAL lets them run beside the daemon) and find the
data directory from ``--config`` (default ``conf/axisd.toml``) or ``--data-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from axis.app import PID_FILE, RELOAD_STATUS_FILE
from axis.config._base import read_toml
from axis.config.server import read_server
from axis.http.api import message_dict
from axis.storage.sqlite import DB_NAME, SqliteStore
from axis.vntime import iso


class OperateError(Exception):
    pass


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
        raise OperateError("name the message ids to resend, or --all")
    store = _store(args, readonly=False)
    try:
        with store.transaction():
            count = store.resend(None if args.all else args.ids, iso(), time.time_ns())
    finally:
        store.close()
    print(f"requeued {count} dead letter(s)")
    return 0 if count or args.all else 1


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
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        raise OperateError(f"axisd does not seem to run: no readable {pid_path}") from None
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

    p = sub.add_parser("reload", help="make the running axisd reload its configuration")
    common(p)
    p.add_argument("--timeout", type=float, default=15.0)
    p.set_defaults(func=cmd_reload)
