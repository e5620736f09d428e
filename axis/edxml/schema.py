"""Structural validation of edXML packages against the project's XSD 1.0 schemas.

Two engines, each for what it is good at:

* ``lxml.etree.XMLSchema`` (libxml2) is the accept gate on the hot path: fast, and a valid package
  costs one call and nothing else;
* ``xmlschema`` explains a rejection: it is slow to build, so it is built lazily (once per kind,
  only after a first failure) and used only to turn the failure into readable problems naming the
  offending element, its line and its path.

The schemas live in ``schemas/`` (``edxml-edoc.xsd``, ``edxml-status.xsd``, both including
``edxml-common.xsd``).  They are read from local files only: no network, no entities, and an
``xs:include`` may only name a schema file in the same directory.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlparse

from lxml import etree

from axis.edxml.names import QCVN_NS, element_path
from axis.edxml.xmlsafe import make_parser
from axis.errors import Code, Problem, Where

__all__ = ["KINDS", "MAX_PROBLEMS", "SchemaSet", "default_schemas", "find_schema_dir"]

SCHEMA_DIR_ENV: Final = "AXIS_SCHEMA_DIR"
SCHEMA_FILES: Final = {"edoc": "edxml-edoc.xsd", "status": "edxml-status.xsd"}
COMMON_FILE: Final = "edxml-common.xsd"
KINDS: Final = tuple(SCHEMA_FILES)
MAX_PROBLEMS: Final = 20

_ALL_FILES: Final = frozenset((*SCHEMA_FILES.values(), COMMON_FILE))
_CLARK = re.compile(r"\{[^}]*\}")
_log = logging.getLogger(__name__)


def _holds_schemas(directory: Path) -> bool:
    return all((directory / name).is_file() for name in _ALL_FILES)


def find_schema_dir() -> Path:
    """The directory holding the edXML schemas.

    ``$AXIS_SCHEMA_DIR`` when set (and then only it); otherwise the source tree's ``schemas/``, then
    ``<sys.prefix>/share/axis/schemas`` where an installed package puts them.
    """
    env = os.environ.get(SCHEMA_DIR_ENV)
    if env:
        candidates = [Path(env)]
    else:
        candidates = [
            Path(__file__).resolve().parents[2] / "schemas",
            Path(sys.prefix) / "share" / "axis" / "schemas",
        ]
    for candidate in candidates:
        if _holds_schemas(candidate):
            return candidate.resolve()
    looked = ", ".join(str(c) for c in candidates)
    source = f"${SCHEMA_DIR_ENV}" if env else "the default locations"
    raise FileNotFoundError(
        f"edXML schemas ({', '.join(sorted(_ALL_FILES))}) not found in {source}: looked in {looked}"
    )


class _LocalSchemaResolver(etree.Resolver):
    """Serves the schema files of one directory; refuses every other URL (network, other folders)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self._directory = directory.resolve()
        self.refused: list[str] = []

    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        path = self._local_path(system_url or "")
        if path is not None:
            return self.resolve_filename(str(path), context)
        # An empty document makes libxml2 fail the schema build; SchemaSet then names the URL.
        self.refused.append(system_url or "")
        return self.resolve_string("", context)

    def _local_path(self, url: str) -> Path | None:
        parsed = urlparse(url)
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                return None
            raw = unquote(parsed.path)
        elif parsed.scheme and len(parsed.scheme) > 1:  # http:, ftp:, ... (a one-letter scheme is a drive)
            return None
        else:
            raw = url
        path = Path(raw)
        if not path.is_absolute():
            path = self._directory / path
        path = path.resolve()
        if path.parent != self._directory or path.name not in _ALL_FILES:
            return None
        return path


def _xsd_parser(resolver: _LocalSchemaResolver) -> etree.XMLParser:
    parser = make_parser()
    parser.resolvers.add(resolver)
    return parser


def _local(tag: object) -> str:
    """Local name of a Clark (``{ns}To``) or prefixed (``ed:To``) tag."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2].rpartition(":")[2]


def _namespace(tag: object) -> str | None:
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].partition("}")[0]
    return None


def _where(el: Any) -> Where:
    """Line and path of an lxml element (anything else gives an empty position)."""
    if not isinstance(el, etree._Element):
        return Where()
    try:
        path: str | None = element_path(el)
    except Exception:  # pragma: no cover - a path is a convenience, never a reason to fail
        path = None
    return Where(line=el.sourceline, path=path)


class SchemaSet:
    """The edoc and status schemas of one directory, loaded once; :meth:`validate` is thread-safe."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory: Path = (Path(directory) if directory is not None else find_schema_dir()).resolve()
        self._xsd_docs: dict[str, etree._ElementTree] = {}
        self._lxml: dict[str, etree.XMLSchema] = {}
        resolver = _LocalSchemaResolver(self.directory)
        parser = _xsd_parser(resolver)
        for kind, name in SCHEMA_FILES.items():
            path = self.directory / name
            if not path.is_file():
                raise FileNotFoundError(f"edXML schema {name} not found in {self.directory}")
            try:
                doc = etree.parse(str(path), parser)
                self._xsd_docs[kind] = doc
                self._lxml[kind] = etree.XMLSchema(doc)
            except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
                if resolver.refused:
                    raise ValueError(
                        f"edXML schema {path} refers to {resolver.refused[0]!r}: schemas may only include "
                        f"the schema files of {self.directory} (no network, no other folders)"
                    ) from exc
                raise
        self._explainers: dict[str, Any] = {}
        self._explainer_lock = threading.Lock()
        self._fallback_lock = threading.Lock()

    # -- the hot path

    def validate(self, root: etree._Element, kind: str) -> list[Problem]:
        """Validate a parsed package against the schema of ``kind`` ("edoc" or "status").

        Returns ``[]`` when the package is valid, else up to :data:`MAX_PROBLEMS` problems with code
        ``edxml.schema`` (:attr:`Code.EDXML_SCHEMA`), each naming the element, its line and its path.
        """
        try:
            schema = self._lxml[kind]
        except KeyError:
            raise ValueError(f"unknown edXML package kind {kind!r}; expected one of {KINDS}") from None
        if schema.validate(root):
            return []
        return self._explain(root, kind)

    # -- the failure path

    def _explain(self, root: etree._Element, kind: str) -> list[Problem]:
        problems: list[Problem] = []
        try:
            import xmlschema

            explainer = self._explainer(kind)
            resource = xmlschema.XMLResource(root, allow="none", defuse="always")
            for error in explainer.iter_errors(resource, use_location_hints=False):
                problems.append(_problem_from_xmlschema(error))
                if len(problems) >= MAX_PROBLEMS:
                    break
        except Exception:  # noqa: BLE001 - the explanation is best effort; lxml's log below is the backstop
            _log.warning("xmlschema could not explain an edXML %s schema failure", kind, exc_info=True)
        if not problems:
            problems = self._lxml_problems(root, kind)
        return problems

    def _explainer(self, kind: str) -> Any:
        """The ``xmlschema`` schema for ``kind``, built on first use (slow: a few tenths of a second)."""
        explainer = self._explainers.get(kind)
        if explainer is None:
            with self._explainer_lock:
                explainer = self._explainers.get(kind)
                if explainer is None:
                    import xmlschema

                    explainer = xmlschema.XMLSchema10(
                        str(self.directory / SCHEMA_FILES[kind]), allow="sandbox", defuse="always"
                    )
                    self._explainers[kind] = explainer
        return explainer

    def _lxml_problems(self, root: etree._Element, kind: str) -> list[Problem]:
        """libxml2's own messages, used when ``xmlschema`` found nothing (so a failure is never silent).

        A private schema object is validated again: the shared one's ``error_log`` may already belong to
        another thread's call.
        """
        with self._fallback_lock:  # building from the parsed XSD reuses its parser: one thread at a time
            schema = etree.XMLSchema(self._xsd_docs[kind])
            schema.validate(root)
        problems: list[Problem] = []
        for entry in schema.error_log:
            found = _element_at(root.getroottree().getroot(), entry.path or "")
            path = element_path(found) if found is not None else None
            problems.append(
                Problem(
                    Code.EDXML_SCHEMA,
                    _CLARK.sub("", entry.message),
                    Where(line=entry.line or None, column=entry.column or None, path=path),
                )
            )
            if len(problems) >= MAX_PROBLEMS:
                break
        if not problems:
            problems.append(Problem(Code.EDXML_SCHEMA, f"the package does not validate against the {kind} schema",
                                    _where(root)))
        return problems


_STEP = re.compile(r"^(?:([^:\[\]]+):)?([^:\[\]]+)(?:\[(\d+)\])?$")


def _element_at(root: etree._Element, path: str) -> etree._Element | None:
    """The element a libxml2 error path (``/*/edXML:edXMLEnvelope/*[1]/To``) points at, or None.

    libxml2 writes the document's own prefixes, which an XPath call could not resolve, so the steps
    are walked by hand: a prefix is matched against each element's own prefix, ``*`` matches any.
    """
    steps = path.split("/")
    if len(steps) < 2 or steps[0] != "":
        return None
    node: etree._Element | None = None
    for step in steps[1:]:
        match = _STEP.match(step)
        if match is None:
            return None
        prefix, name, index = match.groups()
        candidates = [root] if node is None else [c for c in node if isinstance(c.tag, str)]
        if name != "*":
            candidates = [c for c in candidates if _local(c.tag) == name and c.prefix == prefix]
        position = int(index) if index else 1
        if position > len(candidates):
            return None
        node = candidates[position - 1]
    return node


def _describe(el: Any) -> str:
    """``'To'``, ``'To' without a namespace`` or ``'To' in namespace 'urn:x'`` (QCVN namespace implied)."""
    tag = getattr(el, "tag", None)
    name = f"'{_local(tag)}'"
    ns = _namespace(tag)
    if ns is None:
        return f"{name} without a namespace"
    if ns != QCVN_NS:
        return f"{name} in namespace '{ns}'"
    return name


def _problem_from_xmlschema(error: Any) -> Problem:
    """One readable problem from an ``xmlschema`` validation error."""
    from xmlschema.validators.exceptions import XMLSchemaChildrenValidationError

    elem = getattr(error, "elem", None)
    parent = f"'{_local(elem.tag)}'" if isinstance(elem, etree._Element) else "the package"
    if isinstance(error, XMLSchemaChildrenValidationError):
        child = error.invalid_child
        if child is not None:
            return Problem(Code.EDXML_SCHEMA, f"unexpected element {_describe(child)} inside {parent}", _where(child))
        names = ", ".join(f"'{_local(tag)}'" for tag in error.expected_tags or ())
        detail = f"{parent} is incomplete" + (f": expected {names}" if names else "")
        return Problem(Code.EDXML_SCHEMA, detail, _where(elem))
    if isinstance(elem, etree._Element):
        first_child = next(iter(elem.iterchildren(etree.Element)), None)
        if first_child is not None and "simple content" in str(error.reason or ""):
            # A leaf (text-only field) holding elements: point at the element that should not be there.
            return Problem(Code.EDXML_SCHEMA,
                           f"unexpected element {_describe(first_child)} inside {parent} (a text-only field)",
                           _where(first_child))
        if elem.getparent() is None and "not an element of the schema" in str(error.reason or ""):
            return Problem(Code.EDXML_SCHEMA, f"the root element is {_describe(elem)}, not 'edXML'", _where(elem))
    reason = _CLARK.sub("", str(error.reason or error.message)).strip().rstrip(".")
    return Problem(Code.EDXML_SCHEMA, f"{parent}: {reason}" if elem is not None else reason, _where(elem))


@functools.lru_cache(maxsize=1)
def default_schemas() -> SchemaSet:
    """The process-wide :class:`SchemaSet` of :func:`find_schema_dir`, loaded on first use."""
    return SchemaSet()
