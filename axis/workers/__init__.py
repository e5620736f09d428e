"""Intake processes: the CPU-heavy part of accepting a package, outside the daemon's GIL.

Checking a package (parse, schema, signature) and signing its receipt take most of the
CPU a submission costs.  In one process they compete for the GIL with the reactor and
the writer thread, which caps axisd at about one core.  ``axisd`` therefore runs a few
intake processes (``[server] intake_processes``) that each load the configuration and
the receipt key themselves and answer ``(agency, bytes) → Prepared | Refused`` over a
pipe.  The daemon keeps everything with state: the store, delivery, metrics, reloads.

- :mod:`axis.workers.frames`: the framing both sides speak (no Twisted);
- :mod:`axis.workers.child`: the intake process's program (no Twisted);
- :mod:`axis.workers.pool`: the daemon's side (Twisted processes, dispatch, respawn, reload).
"""
