"""axisctl commands that talk to a running axisd as an agency would (the native /v1 API).

    axisctl send FILE --token T            submit a package; prints the answer (message id, signed receipt)
    axisctl mailbox --token T              my pending packages
    axisctl fetch ID --token T [-o OUT]    the original bytes of one
    axisctl ack ID --token T [--result done|fail|processing] [--reason TEXT]
    axisctl sent ID --token T              transport state and business history per recipient

``--url`` defaults to http://127.0.0.1:8080/; the token may come from ``AXIS_TOKEN``
instead of the command line (which other users can see in the process list).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ClientError(Exception):
    pass


def _call(args: argparse.Namespace, method: str, path: str, body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, bytes]:
    token = args.token or os.environ.get("AXIS_TOKEN")
    if not token:
        raise ClientError("give --token or set AXIS_TOKEN")
    request = urllib.request.Request(args.url.rstrip("/") + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ClientError(f"cannot reach {args.url}: {getattr(exc, 'reason', exc)}") from None
    except http.client.HTTPException as exc:  # something answered, but not in HTTP (BadStatusLine, IncompleteRead)
        raise ClientError(f"{args.url} did not answer in HTTP: {type(exc).__name__} {exc}") from None


def _print_json(status: int, body: bytes) -> int:
    try:
        print(json.dumps(json.loads(body), ensure_ascii=False, indent=2))
    except ValueError:
        print(body.decode("utf-8", "replace"))
    return 0 if 200 <= status < 300 else 1


def cmd_send(args: argparse.Namespace) -> int:
    return _print_json(*_call(args, "POST", "/v1/packages", Path(args.file).read_bytes(), "application/xml"))


def cmd_mailbox(args: argparse.Namespace) -> int:
    return _print_json(*_call(args, "GET", f"/v1/mailbox?limit={args.limit}"))


def cmd_fetch(args: argparse.Namespace) -> int:
    status, body = _call(args, "GET", f"/v1/mailbox/{args.id}")
    if status != 200:
        return _print_json(status, body)
    if args.output in (None, "-"):
        sys.stdout.buffer.write(body)
    else:
        Path(args.output).write_bytes(body)
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    doc: dict[str, Any] = {"result": args.result}
    if args.reason:
        doc["reason"] = args.reason
    return _print_json(*_call(args, "POST", f"/v1/mailbox/{args.id}/ack", json.dumps(doc).encode()))


def cmd_sent(args: argparse.Namespace) -> int:
    return _print_json(*_call(args, "GET", f"/v1/sent/{args.id}"))


def add_commands(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default="http://127.0.0.1:8080/", help="axisd's address")
        p.add_argument("--token", help="the agency's bearer token (or set AXIS_TOKEN)")
        p.add_argument("--timeout", type=float, default=60.0)

    p = sub.add_parser("send", help="submit a package to axisd as an agency")
    common(p)
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_send)
    p = sub.add_parser("mailbox", help="list an agency's pending packages")
    common(p)
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_mailbox)
    p = sub.add_parser("fetch", help="download one package from an agency's mailbox")
    common(p)
    p.add_argument("id", metavar="MESSAGE_ID")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("ack", help="acknowledge a package from the mailbox")
    common(p)
    p.add_argument("id", metavar="MESSAGE_ID")
    p.add_argument("--result", choices=("done", "fail", "processing"), default="done")
    p.add_argument("--reason")
    p.set_defaults(func=cmd_ack)
    p = sub.add_parser("sent", help="what became of a package I sent")
    common(p)
    p.add_argument("id", metavar="MESSAGE_ID")
    p.set_defaults(func=cmd_sent)
