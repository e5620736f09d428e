"""Backup and restore of a data directory, while axisd runs (backup) or once it is stopped (restore).

What a data directory holds: the SQLite database (``axis.sqlite3``, with its WAL while the daemon runs),
which holds everything axis stores, the packages' bytes included (table ``payloads``: there are no payload
files); axis's receipt identity (``axis-key.pem``, mode 0600, and ``axis-cert.pem``) unless ``[axis] key`` and
``cert`` put it elsewhere; and files that belong to the running daemon only (``axisd.pid``,
``reload-status.json``, the WAL and its index).

**Backup.**  The database is copied with SQLite's online backup API, a number of pages per step, from a
connection that holds one read transaction for the whole copy.  In WAL mode a reader never blocks the writer,
so axisd keeps accepting packages; and because the snapshot is held, a commit made meanwhile does not restart
the copy (without it, SQLite restarts a backup whenever another connection writes, which under load may
never finish).  The copy is exactly the database as it was when the backup began: every package answered
202 before that moment is in it.  The copy is switched to a rollback journal (one self-contained file),
checked with ``PRAGMA integrity_check``, its row counts compared with the snapshot's, and fsynced; the other
files are copied with their modes; a ``manifest.json`` (written last) lists the time, the axis version, the
migrations applied, the row counts and the SHA-256 of every file.

**Restore.**  Checks every checksum of the manifest first; refuses a backup made by a newer axis (migrations
this one does not know); refuses to replace an existing database unless forced.  Each file is written beside
its final name, checked again while it is written, fsynced, and renamed into place; the database last (after
the old database's WAL and index are removed, which would otherwise be replayed onto the restored file).
That the daemon is stopped is the caller's check (:func:`running_daemon`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import axis
from axis.receipt import fsync_path
from axis.storage.sqlite import DB_NAME, migrations
from axis.vntime import iso

MANIFEST = "manifest.json"
FORMAT = 1
PID_FILE = "axisd.pid"  # as axis.app writes it
# What belongs to the running daemon only, never copied: its pid, its last reload's verdict, the database's
# WAL, index and journal (the backup API reads through them), temporary files.
_RUNTIME = {PID_FILE, "reload-status.json", "reload-status.tmp", f"{DB_NAME}-wal", f"{DB_NAME}-shm",
            f"{DB_NAME}-journal"}
_PART = ".part"
_RESTORING = ".restoring"
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """Backup or restore refused or failed; the message says why, for an operator."""


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str
    mode: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "mode": f"{self.mode:04o}"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy(src: Path, dst: Path, mode: int, expect: str | None = None) -> str:
    """Copy ``src`` to a new file ``dst`` with ``mode``, fsynced; its SHA-256 (checked against ``expect``)."""
    digest = hashlib.sha256()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with src.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                os.write(fd, chunk)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    if expect is not None and digest.hexdigest() != expect:
        dst.unlink()
        raise BackupError(f"{src} changed while it was read (SHA-256 {digest.hexdigest()}, manifest {expect})")
    return digest.hexdigest()


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _facts(conn: sqlite3.Connection) -> tuple[list[str], dict[str, int]]:
    """The migrations applied and the row count of every table, as ``conn`` sees the database."""
    applied = [r[0] for r in conn.execute(f"SELECT name FROM {migrations.migrations_table} "
                                          "WHERE migration_set = ? ORDER BY rowid", (migrations.name,))]
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    counts = {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
    return applied, counts


def _inside(path: Path, directory: Path) -> bool:
    path, directory = path.resolve(), directory.resolve()
    return path == directory or directory in path.parents


def backup(data_dir: Path, dest: Path, pages: int = 2048, pause: float = 0.0,
           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Back ``data_dir`` up into ``dest`` (absent or empty); the manifest written.  Raises BackupError."""
    db = data_dir / DB_NAME
    if not db.is_file():
        raise BackupError(f"no axis database at {db} (has axisd run with this data directory?)")
    if _inside(dest, data_dir):
        raise BackupError(f"{dest} is inside the data directory {data_dir}: a backup belongs elsewhere")
    if dest.exists():
        if not dest.is_dir():
            raise BackupError(f"{dest} exists and is not a directory")
        if any(dest.iterdir()):
            raise BackupError(f"{dest} is not empty: a backup goes into a new or empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        return _backup(data_dir, db, dest, pages, pause, progress, written)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _backup(data_dir: Path, db: Path, dest: Path, pages: int, pause: float,
            progress: Callable[[int, int], None] | None, written: list[Path]) -> dict[str, Any]:
    started, created_at = time.monotonic(), iso()
    part = dest / (DB_NAME + _PART)
    written.append(part)
    try:
        src = _connect(db, readonly=True)
        try:
            src.execute("BEGIN")  # one snapshot for the facts and the whole copy: no restart, the writer never waits
            applied, counts = _facts(src)
            copy = sqlite3.connect(part, isolation_level=None)
            try:
                src.backup(copy, pages=pages, sleep=pause,
                           progress=None if progress is None else lambda _s, left, total: progress(total - left, total))
                src.execute("ROLLBACK")
                copy.execute("PRAGMA journal_mode = DELETE")  # the copy is one self-contained file
                check = [r[0] for r in copy.execute("PRAGMA integrity_check")]
                if check != ["ok"]:
                    raise BackupError(f"the copy failed PRAGMA integrity_check: {'; '.join(check[:5])}")
                copied = _facts(copy)
                if copied != (applied, counts):
                    raise BackupError("the copy does not hold what the snapshot held (row counts differ)")
            finally:
                copy.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{db}: {exc}") from None
    db_mode = stat.S_IMODE(db.stat().st_mode)
    part.chmod(db_mode)
    fsync_path(part)
    files = [FileEntry(DB_NAME, part.stat().st_size, sha256_file(part), db_mode)]
    final = dest / DB_NAME
    os.replace(part, final)
    written.append(final)
    skipped: list[str] = []
    for entry in sorted(data_dir.iterdir()):
        name = entry.name
        if name == DB_NAME or name in _RUNTIME or name.endswith((".tmp", _PART, _RESTORING)):
            continue
        if entry.is_symlink() or not entry.is_file():
            skipped.append(name)
            continue
        mode = stat.S_IMODE(entry.stat().st_mode)
        target = dest / name
        written.append(target)
        files.append(FileEntry(name, entry.stat().st_size, _copy(entry, target, mode), mode))
    manifest = {
        "format": FORMAT,
        "created_at": created_at,
        "axis_version": axis.__version__,
        "source": str(data_dir.resolve()),
        "database": DB_NAME,
        "payloads": "inside the database (table payloads)",
        "migrations": applied,
        "row_counts": counts,
        "integrity_check": "ok",
        "files": [f.to_dict() for f in files],
        "not_copied": skipped,
        "seconds": round(time.monotonic() - started, 3),
    }
    part = dest / (MANIFEST + _PART)
    written.append(part)
    part.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    fsync_path(part)
    os.replace(part, dest / MANIFEST)
    written.append(dest / MANIFEST)
    fsync_path(dest)
    return manifest


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{src} is not an axis backup: no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not isinstance(manifest.get("files"), list):
        raise BackupError(f"{path}: not an axis backup manifest of format {FORMAT}")
    return manifest


def _entries(manifest: dict[str, Any]) -> list[FileEntry]:
    out = []
    try:
        for f in manifest["files"]:
            name = str(f["name"])
            if not name or "/" in name or name in (".", "..") or name == MANIFEST:
                raise ValueError(f"bad file name {name!r}")
            out.append(FileEntry(name, int(f["size"]), str(f["sha256"]), int(str(f["mode"]), 8)))
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{MANIFEST}: a file entry is malformed ({exc})") from None
    if DB_NAME not in [e.name for e in out]:
        raise BackupError(f"{MANIFEST}: lists no {DB_NAME}")
    return out


def verify(src: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is present with its size and SHA-256.  Raises BackupError."""
    manifest = read_manifest(src)
    problems = []
    for entry in _entries(manifest):
        path = src / entry.name
        if not path.is_file():
            problems.append(f"{entry.name} is missing")
        elif path.stat().st_size != entry.size:
            problems.append(f"{entry.name} is {path.stat().st_size} bytes, the manifest says {entry.size}")
        elif sha256_file(path) != entry.sha256:
            problems.append(f"{entry.name} does not match its SHA-256 in the manifest")
    if problems:
        raise BackupError(f"{src}: the backup is damaged or was altered: {'; '.join(problems)}")
    unknown = [m for m in manifest.get("migrations", []) if m not in {m.name for m in migrations._migrations}]
    if unknown:
        raise BackupError(f"{src} was made by a newer axis (schema migrations {', '.join(unknown)} are unknown "
                          f"to axis {axis.__version__}); restore it with that version")
    return manifest


def running_daemon(data_dir: Path) -> int | None:
    """The pid of an axisd that runs on ``data_dir``, according to its pid file; None when none does.

    A pid file left by a daemon that was killed may name another program now (in a container whose pids repeat,
    even the shell running ``axisctl reload``, or this very process): ``axisctl reload`` would send the SIGHUP to
    it.  Only a process whose program is axisd counts (:func:`_is_axisd`), this one never."""
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, someone else's
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if _is_axisd(cmdline.split(b"\0")) else None


_VALUED = (b"-X", b"-W", b"--check-hash-based-pycs")  # the interpreter's options that take the next argument


def _is_axisd(argv: list[bytes]) -> bool:
    """The program is axisd: ``axisd …``, or a Python interpreter (with any options of its own: ``-u``, ``-X dev``,
    a shebang's ``-s``) running ``…/axisd`` (the console script, bin/axisd) or ``-m axis.cli.axisd``.  Not a
    program whose arguments merely name it (``sh -c 'axisd …'``, ``tail -f axisd.log``, ``pgrep -f
    axis.cli.axisd``)."""
    program = os.path.basename(argv[0]) if argv else b""
    if program == b"axisd":
        return True
    if not program.startswith((b"python", b"pypy")):
        return False
    rest = argv[1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg.startswith(b"-m"):
            return (arg[2:] or (rest[i + 1] if i + 1 < len(rest) else b"")) == b"axis.cli.axisd"
        if arg.startswith(b"-c"):
            return False
        if arg == b"--":
            i += 1
            break
        if not arg.startswith(b"-") or arg == b"-":
            break
        i += 2 if arg in _VALUED else 1
    return i < len(rest) and os.path.basename(rest[i]) == b"axisd"

def restore(src: Path, data_dir: Path, force: bool = False) -> dict[str, Any]:
    """Restore the backup in ``src`` into ``data_dir`` (axisd stopped: the caller checked).  Raises BackupError."""
    manifest = verify(src)
    entries = _entries(manifest)
    if _inside(src, data_dir) or _inside(data_dir, src):
        raise BackupError(f"the backup {src} and the data directory {data_dir} must not contain one another")
    db = data_dir / DB_NAME
    if not force:
        if db.exists() or Path(f"{db}-wal").exists():
            raise BackupError(f"{db} exists: restoring would replace it (use --force to replace it)")
        for entry in entries:
            target = data_dir / entry.name
            if target.exists() and sha256_file(target) != entry.sha256:
                raise BackupError(f"{target} exists and differs from the backup's (use --force to replace it)")
    data_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for entry in entries:
            part = data_dir / (entry.name + _RESTORING)
            part.unlink(missing_ok=True)  # left by an interrupted restore
            staged.append((part, data_dir / entry.name))
            _copy(src / entry.name, part, entry.mode, expect=entry.sha256)
        _check_database(staged[[e.name for e in entries].index(DB_NAME)][0])
        fsync_path(data_dir)
        # The database last: it is what makes the restore count.  The old database's WAL and index go first,
        # or SQLite would replay the old WAL onto the restored file.
        for part, final in sorted(staged, key=lambda pair: pair[1].name == DB_NAME):
            if final.name == DB_NAME:
                for extra in (f"{db}-wal", f"{db}-shm", f"{db}-journal"):
                    Path(extra).unlink(missing_ok=True)
            os.replace(part, final)
        fsync_path(data_dir)
    except BaseException:
        for part, _ in staged:
            part.unlink(missing_ok=True)
        raise
    return manifest


def _check_database(path: Path) -> None:
    try:
        conn = _connect(path, readonly=True)
        try:
            check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the restored database cannot be read: {exc}") from None
    if check != ["ok"]:
        raise BackupError(f"the restored database failed PRAGMA integrity_check: {'; '.join(check[:5])}")


def describe(files: Iterable[dict[str, Any]]) -> str:
    return ", ".join(f"{f['name']} ({f['size']} bytes)" for f in files)

