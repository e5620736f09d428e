"""The verdict on one package: bytes in, a complete and explicit judgement out.

wire bytes → hardened parse → locate (kind) → XSD → typed model → signature → verdict.
A verdict lists every problem found (errors refuse, warnings are recorded), the
signature class, and the model; it never raises for bad input.  This is the one
entry point that the command line and (later) the daemon's doors use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from axis.edxml import reader, xmlsafe
from axis.edxml.model import EdocPackage, Package, StatusPackage
from axis.edxml.schema import SchemaSet, default_schemas
from axis.errors import AxisError, Code, Problem
from axis.signature.trust import TrustStore
from axis.signature.verify import SignatureOptions, SignatureVerdict
from axis.signature.verify import check as check_signature
from axis.vntime import Clock
from axis.vntime import now as vn_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckOptions:
    limits: xmlsafe.ParseLimits = xmlsafe.DEFAULT_LIMITS
    signature: SignatureOptions = SignatureOptions()
    require_valid_signature: bool = False
    """When False (the interop default), ``absent``, ``placeholder`` and ``nonstandard`` are accepted as legacy
    and recorded; ``invalid`` is always refused."""


@dataclass(frozen=True)
class Verdict:
    size: int
    sha256: str | None
    package: Package | None
    signature: SignatureVerdict | None
    problems: tuple[Problem, ...] = field(default=())

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)

    @property
    def acceptable(self) -> bool:
        return self.package is not None and not self.errors

    @property
    def kind(self) -> str | None:
        return self.package.kind if self.package is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The summary ``axisctl validate`` prints and the doors will answer with."""
        pkg = self.package
        out: dict[str, Any] = {"kind": self.kind, "size": self.size, "sha256": self.sha256}
        if isinstance(pkg, EdocPackage):
            out.update({
                "from": pkg.sender.organ_id if pkg.sender else None,
                "to": [t.organ_id for t in pkg.to],
                "document_id": pkg.document_id,
                "business_doc_type": pkg.business_doc_type,
                "priority": pkg.priority,
                "attachments": [
                    {"name": a.name, "content_id": a.content_id, "declared_type": a.declared_type,
                     "type": a.sniffed, "size": a.size, "sha256": a.sha256}
                    for a in pkg.attachments
                ],
            })
        elif isinstance(pkg, StatusPackage):
            out.update({
                "from": pkg.sender.organ_id if pkg.sender else None,
                "status_code": pkg.status_code,
                "response_for": pkg.response_for.organ_id if pkg.response_for else None,
                "document_id": pkg.response_for.document_id if pkg.response_for else None,
                "attachments": [],
            })
        out["signature"] = self.signature.to_dict() if self.signature else None
        out["errors"] = [p.to_dict() for p in self.errors]
        out["warnings"] = [p.to_dict() for p in self.warnings]
        out["acceptable"] = self.acceptable
        return out


class Checker:
    """Judges packages against one trust store and one policy; safe to share between threads."""

    def __init__(self, trust: TrustStore | None = None, options: CheckOptions = CheckOptions(),
                 schemas: SchemaSet | None = None, clock: Clock = vn_now,
                 aliases: Mapping[str, str] | None = None) -> None:
        """``aliases``: the agency code a sender may be written as otherwise (a VXP system id, which the registry
        resolves): its signature is judged as that agency's, its pins and the name in its certificate included."""
        self.trust = trust or TrustStore()
        self.options = options
        self.schemas = schemas or default_schemas()
        self.clock = clock
        self.aliases = aliases or {}

    def check(self, data: bytes) -> Verdict:
        try:
            return self._check(data)
        except Exception:  # a bug of ours must not become a crash or a stack trace for the sender
            log.exception("internal error while checking a package of %d bytes", len(data))
            return Verdict(size=len(data), sha256=None, package=None, signature=None,
                           problems=(Problem(Code.INTERNAL, "the package could not be checked"),))

    def _check(self, data: bytes) -> Verdict:
        try:
            parsed = xmlsafe.parse(data, self.options.limits)
            located = reader.locate(parsed.root)
        except AxisError as exc:
            sha = None if exc.code in (Code.BODY_EMPTY, Code.BODY_TOO_LARGE) else xmlsafe.sha256_hex(data)
            return Verdict(size=len(data), sha256=sha, package=None, signature=None, problems=(exc.problem,))
        problems = list(self.schemas.validate(parsed.root, located.kind))
        package, read_problems = reader.read(located)
        problems.extend(read_problems)
        sender = package.sender.organ_id if package.sender else None
        if sender is not None:
            sender = self.aliases.get(sender, sender)
        signature = check_signature(data, located, sender, self.trust, self.clock(), self.options.signature)
        problems.extend(signature.warnings)
        if signature.problem is not None:
            problems.append(signature.problem)
        elif self.options.require_valid_signature and signature.required_problem is not None:
            problems.append(Problem(Code.SIGNATURE_REQUIRED, signature.required_problem))
        return Verdict(size=len(data), sha256=parsed.sha256, package=package, signature=signature,
                       problems=tuple(problems))
