"""axisd: the axis daemon.

Loads the configuration, builds the service and runs the reactor in the foreground
(for systemd).  SIGTERM and SIGINT drain it: it stops listening, answers new requests on
open connections with 503 ``http.stopping`` (send again), finishes every request
already received (each is answered within ``server.request_timeout``), then lets
deliveries, intake processes and the writer finish what they hold, and exits 0.
SIGHUP reloads the registry and trust settings (a bad edit is refused and the
running configuration stays).  Logs are JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet import endpoints
from twisted.internet.defer import Deferred, DeferredList

from axis import logs
from axis.app import PID_FILE, Reloader, build, load_config, with_data_dir
from axis.config import AxisConfig, ConfigError
from axis.errors import AxisError
from axis.http.tls import server_options
from axis.storage.backup import running_daemon

log = logging.getLogger("axisd")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="axisd", description="The axis daemon.")
    parser.add_argument("--config", "-c", default="conf/axisd.toml", type=Path)
    parser.add_argument("--port", type=int, help="override server.port (0: any free port, printed on start)")
    parser.add_argument("--data-dir", type=Path, help="override server.data_dir")
    parser.add_argument("--check-config", action="store_true", help="check the configuration and exit")
    args = parser.parse_args(argv)
    def adjust(config: AxisConfig) -> AxisConfig:
        return with_data_dir(config, args.data_dir)

    try:
        loaded = load_config(args.config, adjust)
        config = loaded.config
    except (ConfigError, ValueError, OSError) as exc:
        print(f"axisd: configuration refused: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"axisd: {args.config}: configuration OK ({len(config.registry)} agencies)")
        return 0
    # One daemon per store: a second would push every queued delivery again, and replace the first's pid file.
    running = running_daemon(config.server.data_dir)
    if running is not None:
        print(f"axisd: cannot start: an axisd (pid {running}) already runs on {config.server.data_dir}",
              file=sys.stderr)
        return 2

    from twisted.internet import reactor

    # Every timer of the daemon (request deadlines, retries, polls, gauges) runs on the monotonic clock: on the
    # wall clock, setting the system time back an hour would hold every pending timer for that hour.  Wall-clock
    # times (ledgers, receipts, HTTP Date) are read from the wall clock where they are made.
    reactor.seconds = time.monotonic  # type: ignore[attr-defined]
    logs.setup()
    try:
        app = build(reactor, loaded)
    except (AxisError, ConfigError, ValueError, OSError) as exc:
        print(f"axisd: cannot start: {exc}", file=sys.stderr)
        return 2
    data_dir = config.server.data_dir
    reloader = Reloader(app, args.config, adjust)
    port = args.port if args.port is not None else config.server.port
    tls = config.server.tls
    scheme = "https" if tls.enabled else "http"

    def endpoint_on(number: int) -> Any:
        if tls.enabled:
            return endpoints.SSL4ServerEndpoint(reactor, number, server_options(tls), interface=config.server.host)
        return endpoints.TCP4ServerEndpoint(reactor, number, interface=config.server.host)
    endpoint = endpoint_on(port)
    pid_file = data_dir / PID_FILE

    ports: list[Any] = []
    sites = [app.site] + ([app.vxp_site] if app.vxp_site is not None else [])

    def listening(listening_port: Any) -> None:
        ports.append(listening_port)
        address = listening_port.getHost()
        pid_file.write_text(f"{os.getpid()}\n")
        log.info("listening on %s://%s:%s/ (config %s, data %s, %d agencies)", scheme, address.host, address.port,
                 config.source, data_dir, len(config.registry))
        print(f"axisd: listening on {scheme}://{address.host}:{address.port}/ (config {config.source})", flush=True)
        if config.vxp.enabled and config.vxp.port == 0:
            print(f"axisd: VXP door on {scheme}://{address.host}:{address.port}{config.vxp.prefix}/", flush=True)

    exit_code = 0

    def failed(failure: object) -> None:
        """A port that cannot be had ends the daemon (exit 2): one that runs without listening would still push and
        remove what is past retention.  ``listen`` usually fails at once, before the reactor runs."""
        nonlocal exit_code
        print(f"axisd: cannot listen on {config.server.host}: {failure.getErrorMessage()}",  # type: ignore
              file=sys.stderr, flush=True)
        exit_code = 2
        if reactor.running:  # type: ignore[attr-defined]
            reactor.stop()  # type: ignore[attr-defined]
        else:
            reactor.callWhenRunning(reactor.stop)  # type: ignore[attr-defined]

    def remove_pid_file() -> None:
        """Only our own: the file of another axisd on this data directory is what axisctl reload and restore read."""
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass

    def stopping() -> object:
        # No reload while stopping: it would start intake processes and write to the store being closed.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        log.info("stopping: no new connections; finishing the %d requests in flight (SIGHUP is ignored now)",
                 sum(site.active for site in sites))
        for listening_port in ports:
            listening_port.stopListening()
        drained = DeferredList([site.drain() for site in sites])
        timer = reactor.callLater(config.server.request_timeout + 5, drained.cancel)  # type: ignore[attr-defined]

        def drained_or_not(_: object) -> Deferred[Any]:
            if timer.active():
                timer.cancel()
            else:
                log.warning("stopping: %d requests still unanswered", sum(site.active for site in sites))
            return DeferredList([site.close_connections(reactor) for site in sites])
        drained.addBoth(drained_or_not)

        def stopped(result: object) -> object:
            # Only now: until the store is closed (and its WAL checkpointed) axisd still writes to the data directory,
            # and the pid file is what axisctl restore and another axisd's start guard look for.
            remove_pid_file()
            return result
        return drained.addBoth(lambda _: app.stop()).addBoth(stopped)

    app.start()
    reactor.addSystemEventTrigger("before", "shutdown", stopping)  # type: ignore[attr-defined]
    signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(reloader.request))  # type: ignore
    endpoint.listen(app.site).addCallbacks(listening, failed)
    if app.vxp_site is not None:
        vxp = config.vxp

        def door_listening(listening_port: Any) -> None:
            ports.append(listening_port)
            address = listening_port.getHost()
            print(f"axisd: VXP door on {scheme}://{address.host}:{address.port}{vxp.prefix}/", flush=True)

        endpoint_on(vxp.port).listen(app.vxp_site).addCallbacks(door_listening, failed)
    reactor.run()  # type: ignore[attr-defined]
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
