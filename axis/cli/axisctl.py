"""axisctl: the operator's command line.

    axisctl validate FILE...            one JSON line per file; exit 0 when all are acceptable
    axisctl sign FILE --key K --cert C  sign a package (enveloped XML-DSig over the whole package)
    axisctl pki init DIR                a test root CA (DIR/ca.key, DIR/ca.pem)
    axisctl pki issue CODE --dir DIR    an agency signing certificate issued by that CA
    axisctl verify-receipt R --cert C   check a receipt signed by axis (R: a file or -, [--file PACKAGE])
    axisctl check-config [--config F]   check axisd.toml and every agency file it names, without starting
    axisctl token                       a new agency token, and the token_sha256 line for its [[agency]]

Exit codes: 0 success, 1 a package was refused (validate) or an operation failed,
2 bad usage.  Errors go to stderr as one line; never a stack trace.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from axis import receipt as receipts
from axis.agencycode import parse_strict
from axis.cli import client, operate
from axis.config import ConfigError, token_digest
from axis.config import load as load_config
from axis.edxml import xmlsafe
from axis.errors import AxisError, Code
from axis.signature import pki
from axis.signature.sign import sign_package
from axis.signature.trust import TrustStore
from axis.signature.verify import SignatureOptions
from axis.verdict import Checker, CheckOptions
from axis.vntime import iso, parse_iso
from axis.vntime import now as vn_now

UsageError = operate.UsageError


def _pins(values: Sequence[str]) -> dict[str, list[Path]]:
    pins: dict[str, list[Path]] = {}
    for value in values:
        code, sep, path = value.partition("=")
        if not sep or not code or not path:
            raise UsageError(f"--pin expects CODE=CERT.pem, got {value!r}")
        pins.setdefault(code, []).append(Path(path))
    return pins


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        trust = TrustStore.from_files(args.trust_ca, _pins(args.pin))
    except (OSError, ValueError) as exc:
        raise UsageError(f"trust store: {exc}") from None
    options = CheckOptions(
        limits=xmlsafe.ParseLimits(max_bytes=args.max_bytes),
        signature=SignatureOptions(allow_sha1=args.allow_sha1),
        require_valid_signature=args.require_signature,
    )
    checker = Checker(trust, options)
    all_ok = True
    for name in args.files:
        path = Path(name)
        try:
            if path.stat().st_size > options.limits.max_bytes:
                data = path.open("rb").read(options.limits.max_bytes + 1)  # enough to be refused, no more
            else:
                data = path.read_bytes()
        except OSError as exc:
            print(json.dumps({"file": name, "acceptable": False,
                              "errors": [{"code": "file.unreadable", "message": exc.strerror or str(exc)}]},
                             ensure_ascii=False))
            all_ok = False
            continue
        verdict = checker.check(data)
        all_ok &= verdict.acceptable
        print(json.dumps({"file": name, **verdict.to_dict()}, ensure_ascii=False), flush=True)
    return 0 if all_ok else 1


def cmd_sign(args: argparse.Namespace) -> int:
    signer = pki.read(Path(args.key), Path(args.cert))
    signed = sign_package(Path(args.file).read_bytes(), signer)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(signed)
    else:
        Path(args.output).write_bytes(signed)
    return 0


def cmd_pki_init(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    if (directory / "ca.key").exists() and not args.force:
        raise UsageError(f"{directory / 'ca.key'} exists; use --force to replace the CA")
    ca = pki.create_ca(args.name, days=args.days, key_kind=args.key_kind)
    key_path, cert_path = pki.write(ca, directory, "ca")
    print(json.dumps({"ca_certificate": str(cert_path), "ca_key": str(key_path),
                      "subject": ca.cert.subject.rfc4514_string()}, ensure_ascii=False))
    return 0


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise UsageError(f"{text!r}: expected an ISO 8601 time with offset ({exc})") from None


def cmd_pki_issue(args: argparse.Namespace) -> int:
    code = parse_strict(args.code)  # registering an identity: the strict grammar
    directory = Path(args.dir)
    try:
        ca = pki.read(directory / "ca.key", directory / "ca.pem")
    except FileNotFoundError:
        raise UsageError(f"no CA in {directory}: run 'axisctl pki init {directory}' first") from None
    not_before = _moment(args.not_before)
    not_after = _moment(args.not_after)
    if not_before is None and not_after is not None:
        not_before = min(vn_now(), not_after) - timedelta(days=1)
    issued = pki.issue(ca, code.text, args.name, not_before=not_before, not_after=not_after, days=args.days,
                       key_kind=args.key_kind)
    key_path, cert_path = pki.write(issued, directory, args.stem or code.text)
    print(json.dumps({"agency": code.text, "certificate": str(cert_path), "key": str(key_path),
                      "not_before": iso(issued.cert.not_valid_before_utc),
                      "not_after": iso(issued.cert.not_valid_after_utc)}, ensure_ascii=False))
    return 0


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    certificate = receipts.load_certificate(Path(args.cert))
    data = sys.stdin.buffer.read() if args.receipt == "-" else Path(args.receipt).read_bytes()
    try:
        receipt = receipts.verify_receipt(receipts.extract_signed(data), certificate)
        if args.file is not None:
            sha256, size = receipts.file_digest(Path(args.file))
            if (sha256, size) != (receipt.sha256, receipt.size):
                raise AxisError.of(Code.RECEIPT_PACKAGE_MISMATCH,
                                   f"{args.file} is {size} bytes, SHA-256 {sha256}; the receipt is for "
                                   f"{receipt.size} bytes, SHA-256 {receipt.sha256}")
    except AxisError as exc:
        print(f"receipt REFUSED: {exc.code.code}: {exc.problem.message}")
        return 1
    print(f"receipt OK: {receipt.message_id} {receipt.sha256} accepted {receipt.accepted_at} by {receipt.axis} "
          f"for {','.join(receipt.recipients)}")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        print(f"axisctl: {exc}", file=sys.stderr)
        return 2
    counts = config.registry.summary()
    print(f"axisctl: {args.config}: OK ({counts['agencies']} agencies: {counts['pull']} pull, {counts['push']} push; "
          f"{counts['routes']} routes)")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    print(token)
    print(f'token_sha256 = "{token_digest(token)}"')
    print("axisctl: give the first line to the agency over a secure channel and keep no copy; paste the second "
          "in its [[agency]] table", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="axisctl", description="Operate axis: check, sign, manage test PKI.")
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="read, check and verify edXML packages; one JSON line per file")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--trust-ca", action="append", default=[], type=Path, metavar="PEM",
                   help="CA certificates trusted for signatures (repeatable)")
    v.add_argument("--pin", action="append", default=[], metavar="CODE=PEM",
                   help="pin an agency's signing certificate(s) (repeatable)")
    v.add_argument("--allow-sha1", action="store_true", help="legacy: accept RSA-SHA1 signatures")
    v.add_argument("--require-signature", action="store_true",
                   help="refuse packages without a valid signature (absent/placeholder/nonstandard)")
    v.add_argument("--max-bytes", type=int, default=xmlsafe.DEFAULT_LIMITS.max_bytes)
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("sign", help="sign a package with an agency key and certificate")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--key", required=True, help="PEM private key")
    s.add_argument("--cert", required=True, help="PEM certificate (and chain)")
    s.add_argument("-o", "--output", help="output file (default: standard output)")
    s.set_defaults(func=cmd_sign)

    p = sub.add_parser("pki", help="a test PKI: root CA and agency certificates")
    psub = p.add_subparsers(dest="pki_command", required=True)
    init = psub.add_parser("init", help="create a root CA in DIR")
    init.add_argument("dir", metavar="DIR")
    init.add_argument("--name", default="axis test root CA")
    init.add_argument("--days", type=int, default=3650)
    init.add_argument("--key-kind", choices=("rsa", "ec"), default="rsa")
    init.add_argument("--force", action="store_true")
    init.set_defaults(func=cmd_pki_init)
    iss = psub.add_parser("issue", help="issue a signing certificate for an agency CODE")
    iss.add_argument("code", metavar="CODE")
    iss.add_argument("--dir", required=True, help="the CA's directory (from pki init)")
    iss.add_argument("--name", help="organisation name for the subject")
    iss.add_argument("--days", type=int, default=730)
    iss.add_argument("--not-before", help="ISO 8601 start of validity (default: now)")
    iss.add_argument("--not-after", help="ISO 8601 end of validity (default: start + --days)")
    iss.add_argument("--key-kind", choices=("rsa", "ec"), default="rsa")
    iss.add_argument("--stem", help="file name stem (default: the code)")
    iss.set_defaults(func=cmd_pki_issue)

    vr = sub.add_parser("verify-receipt", help="check a receipt signed by axis against axis's certificate")
    vr.add_argument("receipt", metavar="RECEIPT", help="signed receipt or whole submit answer (JSON file, - for stdin)")
    vr.add_argument("--cert", required=True, help="axis's receipt certificate (PEM)")
    vr.add_argument("--file", metavar="PACKAGE", help="also check that this package is the one the receipt is for")
    vr.set_defaults(func=cmd_verify_receipt)
    cc = sub.add_parser("check-config", help="check the configuration and the agency files it names")
    cc.add_argument("--config", "-c", default="conf/axisd.toml", help="axisd.toml (default: %(default)s)")
    cc.set_defaults(func=cmd_check_config)

    tk = sub.add_parser("token", help="a new random agency token and its token_sha256 line")
    tk.set_defaults(func=cmd_token)
    operate.add_commands(sub)
    client.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"axisctl: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:  # the commands that read only [server] to find the data directory
        print(f"axisctl: {exc}", file=sys.stderr)
        return 2
    except (AxisError, operate.OperateError, client.ClientError) as exc:
        print(f"axisctl: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"axisctl: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:  # the store commands: a damaged file, a write lock held past the busy timeout
        print(f"axisctl: the axis database: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
