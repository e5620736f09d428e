"""axisd: the axis daemon.

Loads the configuration, builds the service and runs the reactor in the foreground
(for systemd; SIGTERM and SIGINT stop it cleanly).  Today it serves package checking
(``POST /v1/check``), ``/healthz`` and Prometheus ``/metrics``; storage, routing and
delivery come with issue 3.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from twisted.internet import endpoints
from twisted.logger import globalLogBeginner, textFileLogObserver

from axis.config import AxisConfig, ConfigError, load
from axis.http.resources import build_site
from axis.metrics import Metrics
from axis.signature.trust import TrustStore
from axis.signature.verify import SignatureOptions
from axis.verdict import Checker, CheckOptions


def build_checker(config: AxisConfig) -> Checker:
    sig = config.signatures
    trust = TrustStore.from_files(sig.trust_ca, {code: list(paths) for code, paths in sig.pins.items()})
    return Checker(trust, CheckOptions(limits=config.limits, signature=SignatureOptions(allow_sha1=sig.allow_sha1),
                                       require_valid_signature=sig.require_valid_signature))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="axisd", description="The axis daemon.")
    parser.add_argument("--config", "-c", default="conf/axisd.toml", type=Path)
    parser.add_argument("--port", type=int, help="override server.port (0: any free port, printed on start)")
    parser.add_argument("--check-config", action="store_true", help="check the configuration and exit")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
        checker = build_checker(config)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"axisd: configuration refused: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"axisd: {args.config}: configuration OK")
        return 0

    from twisted.internet import reactor

    config.server.data_dir.mkdir(parents=True, exist_ok=True)
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)], redirectStandardIO=False)
    site = build_site(reactor, checker, Metrics.create(), config.limits.max_bytes)  # type: ignore[arg-type]
    port = args.port if args.port is not None else config.server.port
    endpoint = endpoints.TCP4ServerEndpoint(reactor, port, interface=config.server.host)

    def listening(listening_port: object) -> None:
        address = listening_port.getHost()  # type: ignore[attr-defined]
        print(f"axisd: listening on http://{address.host}:{address.port}/ (config {config.source})", flush=True)

    def failed(failure: object) -> None:
        print(f"axisd: cannot listen on {config.server.host}:{port}: {failure.getErrorMessage()}",  # type: ignore
              file=sys.stderr, flush=True)
        reactor.stop()  # type: ignore[attr-defined]

    endpoint.listen(site).addCallbacks(listening, failed)
    reactor.run()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
