"""``[registry]``: the agency files, read into one :class:`axis.registry.Registry`.

Two formats, listed in ``axisd.toml``::

    [registry]
    agencies = ["agencies.toml"]   # hand-edited TOML: [[agency]] and [[route]] tables
    directories = []               # CSV directories of agencies, for national-scale lists

**TOML agency files** hold ``[[agency]]`` and ``[[route]]`` tables (see ``conf/agencies.toml``)::

    [[agency]]
    code = "000.00.00.H41"          # required; either grammar (QCVN 102:2016 or QĐ 20/2020, "H41")
    name = "UBND tỉnh Nghệ An"      # required
    parent = "..."                  # default: the unit above in the code itself, if any
    delivery = "pull"               # "pull" (default) or "push"
    push_url = "https://..."        # required if and only if delivery = "push"
    token_sha256 = "<64 hex>"       # SHA-256 (hex) of the agency's bearer token, never the token
    hmac_secret_file = "..."        # or hmac_secret_env = "NAME" (not both): the HMAC secret, >= 16 bytes
    signature = "require"           # or "legacy"; default from [signatures] require_valid_signature
    certificates = ["trust/x.pem"]  # the agency's own signing certificates (pinned)
    calendar = "mot-cua"            # its working calendar, [deadlines.calendars.mot-cua]; default [deadlines]
    vxp_system_id = "vxp.saas.03"   # its SDKVXP system id on the VXP door; the secret is its HMAC secret

    [[route]]
    name = "national"               # required, unique
    prefixes = ["G", "H40"]         # required; see axis.registry.Route
    delivery = "vxp"                # "push" (default: POST the bytes to url), "vxp" (an upstream axis speaking
                                    # SDKVXP: send there, poll its mailbox) or "pull" (a lower axis that
                                    # connects to our VXP door; no url)
    url = "https://.../vxp"         # required unless delivery = "pull"
    vxp_system_id = "axis.h41"      # "vxp": our system id there; "pull": the lower axis's system id here
    signature = "legacy"            # for packages that come in along the route; default as for agencies
    # token_sha256 / hmac_secret_file / hmac_secret_env as for agencies; "vxp" and "pull" need the HMAC secret

An agency in a TOML file must have a credential (``token_sha256`` or an HMAC secret).  Relative
paths are resolved against the directory of the file that names them.

**CSV directories** (UTF-8, optional BOM, comma separated, a header row first) list agencies in
bulk: columns ``code`` and ``name`` are required; ``parent``, ``delivery``, ``push_url``,
``token_sha256``, ``hmac_secret_env`` and ``signature`` are optional and mean what they mean in
TOML; an empty cell means the default.  Any other column is refused.  **A CSV row without any
credential is allowed**: it registers an agency reachable through this axis but not yet connected
to it — packages addressed to it are accepted and wait in its pull mailbox (or are pushed to its
URL), but nobody can log in as it until a credential is added.  Errors name the line:
``dir.csv: line 17, push_url: required when delivery = "push"``.

Every error names the file, the key and the problem; an agency registered twice (in any grammar,
in any two files), and a token or an HMAC secret given to two agencies or routes (whoever holds a
shared secret can sign as either), are refused naming both places.  Secrets (HMAC secrets, and
tokens pasted where their hash belongs) never appear in a message.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import gc
import hashlib
import operator
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from axis import sources
from axis.agencycode import AgencyCode, Grammar, parse_strict
from axis.config import pem
from axis.config._base import ConfigError, _Section, read_toml
from axis.errors import AxisError
from axis.registry import Agency, Credentials, DeliveryMode, Registry, Route, RouteDelivery, SignaturePolicy, route_key

MIN_HMAC_SECRET = 16
"""Shortest HMAC secret accepted, in bytes."""

CSV_COLUMNS = ("code", "name", "parent", "delivery", "push_url", "token_sha256", "hmac_secret_env", "signature")
CSV_REQUIRED = ("code", "name")

_DELIVERY = {"pull": DeliveryMode.PULL, "push": DeliveryMode.PUSH}
_SIGNATURE = {"require": SignaturePolicy.REQUIRE, "legacy": SignaturePolicy.LEGACY}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_NO_CREDENTIALS = Credentials()
T = TypeVar("T")


def token_digest(token: str) -> str:
    """The ``token_sha256`` configured for a bearer ``token``: SHA-256 of its UTF-8 bytes, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# -- values shared by both formats.  Each returns the value or raises ValueError with the problem;
#    the caller adds the file and key.

def _token_sha256(value: str) -> bytes:
    digest = None
    if len(value) == 64:
        try:
            digest = bytes.fromhex(value)
        except ValueError:
            pass
    if digest is None or len(digest) != 32:  # fromhex skips spaces: 64 characters with one are not 32 bytes
        # Never echo the value: an operator may have pasted the token itself here.
        raise ValueError("expected 64 hexadecimal digits, the SHA-256 of the agency's token (value not shown; "
                         "'axisctl token' makes a token and its hash)")
    return digest


def _secret_from_env(name: str) -> bytes:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError("expected the name of an environment variable holding the secret, not the secret itself "
                         "(value not shown)")
    value = os.environ.get(name)
    if value is None:
        raise ValueError(f"environment variable {name} is not set")
    secret = value.encode("utf-8")
    if len(secret) < MIN_HMAC_SECRET:
        raise ValueError(f"the secret in environment variable {name} is shorter than {MIN_HMAC_SECRET} bytes")
    return secret


def _secret_from_file(path: Path) -> bytes:
    exposed = sources.exposed_secret(path)
    if exposed is not None:
        raise ValueError(exposed)
    try:
        data = sources.read_bytes(path)
    except FileNotFoundError:
        raise ValueError(f"file {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"file {path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    if len(data) < MIN_HMAC_SECRET:
        raise ValueError(f"the secret in {path} is shorter than {MIN_HMAC_SECRET} bytes")
    return data


def _shown_url(value: str) -> str:
    """A URL as an error shows it: without its query and fragment, where a receiver may keep a token (the ledgers
    and logs never write the query either).  Plain string cutting: it must work on a URL that does not parse."""
    cut = min((i for i in (value.find("?"), value.find("#")) if i >= 0), default=len(value))
    return repr(value[:cut]) + (" (query not shown)" if cut < len(value) else "")


def _url(value: str) -> str:
    """An http(s) URL with a host.  A URL carrying ``user:password@`` is refused without being echoed, and a
    refused URL is shown without its query."""
    if "@" in value:
        raise ValueError("credentials in the URL are not allowed (value not shown); use token_sha256 or an "
                         "HMAC secret")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{_shown_url(value)} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {_shown_url(value)}")
    if any(c.isspace() for c in value):
        raise ValueError(f"{_shown_url(value)} contains whitespace")
    return value


_QD20_FITS_QCVN = re.compile(r"[A-Z][0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{3})?)?)?")


def _qcvn_parent(t: str) -> str | None:
    """The canonical parent of a QCVN 102 text ``000.00.18.G12``: its lowest non-zero group zeroed."""
    if t[0:3] != "000":
        return "000" + t[3:]
    if t[4:6] != "00":
        return "000.00" + t[6:]
    if t[7:9] != "00":
        return "000.00.00" + t[9:]
    return None


def _forms(code: AgencyCode) -> tuple[str, str, str | None]:
    """For a strictly parsed code: its canonical key, its other standard form (the key itself when
    there is none) and its parent's canonical key (None for a level-1 code).

    The same as ``code.canonical``, ``code.equivalents()`` and ``code.parent().canonical``, computed
    with string slicing: this runs once per row of a national-scale directory.
    """
    t = code.text
    if code.grammar is Grammar.QCVN102:
        l1, g2, g3, g4 = t[10:], t[7:9], t[4:6], t[0:3]
        if g4 != "000":
            return t, f"{l1}.{g2}.{g3}.{g4}", "000" + t[3:]
        if g3 != "00":
            return t, f"{l1}.{g2}.{g3}", "000.00" + t[6:]
        if g2 != "00":
            return t, f"{l1}.{g2}", "000.00.00" + t[9:]
        return t, l1, None
    if _QD20_FITS_QCVN.fullmatch(t):  # QĐ 20 whose groups have the 2/2/3 digits of QCVN 102
        g, l1 = code.groups, code.level1
        n = len(g)
        if n == 0:
            key = f"000.00.00.{l1}"
        elif n == 1:
            key = f"000.00.{g[0]}.{l1}"
        elif n == 2:
            key = f"000.{g[1]}.{g[0]}.{l1}"
        else:
            key = f"{g[2]}.{g[1]}.{g[0]}.{l1}"
        return key, t, _qcvn_parent(key)
    parent = code.parent()  # QĐ 20 only, e.g. H37.DN.001: rare, take the general path
    return code.canonical, t, None if parent is None else parent.canonical


def _quick_constructor(cls: type[T], sample: dict[str, Any]) -> Callable[..., T]:
    """``cls(**fields)``, or a quicker equivalent for the hot loop of a national-scale directory.

    A frozen dataclass sets each field through ``object.__setattr__``: 2.7 µs an Agency on this
    machine, a fifth of the whole load.  When ``cls`` is a plain frozen dataclass whose fields are
    exactly those of ``sample`` (no ``__slots__``, no ``__post_init__``), an instance whose
    ``__dict__`` is filled directly is the very same object: this is checked on the sample, and
    anything else falls back to the real constructor.  Callers always pass every field.
    """
    new, set_dict = object.__new__, object.__setattr__

    def quick(**values: Any) -> T:
        instance = new(cls)
        set_dict(instance, "__dict__", values)
        return instance

    try:
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        plain = (not hasattr(cls, "__slots__") and not hasattr(cls, "__post_init__")
                 and tuple(f.name for f in fields) == tuple(sample) and all(f.init for f in fields))
        if plain:
            fast, real = quick(**sample), cls(**sample)
            if fast == real and repr(fast) == repr(real) and hash(fast) == hash(real) and vars(fast) == vars(real):
                return quick
    except Exception:  # noqa: BLE001 - any surprise: use the real constructor
        pass
    return cls


_make_credentials = _quick_constructor(Credentials, {"token_sha256": b"t" * 32, "hmac_secret": b"s" * 16})
_make_agency = _quick_constructor(Agency, {
    "code": parse_strict("H41.01"), "name": "x", "parent": "000.00.00.H41", "delivery": DeliveryMode.PUSH,
    "push_url": "http://h/", "credentials": Credentials(token_sha256=b"t" * 32),
    "signature_policy": SignaturePolicy.REQUIRE, "certificates": (), "calendar": None, "vxp_system_id": None})


class _Registry:
    """Collects agencies and routes from every file, remembering where each was defined.

    Agencies registered twice and tokens used twice are found when the registry is built (it refuses
    them), then located by :meth:`conflict`: the per-row checks would cost a tenth of a national load.
    """

    def __init__(self, default_policy: SignaturePolicy, calendars: frozenset[str] = frozenset()) -> None:
        self.default_policy = default_policy
        self.calendars = calendars  # the names of [deadlines.calendars] an agency may name
        self.system_ids: dict[str, str] = {}  # vxp_system_id -> where it was first given
        self.secrets: dict[bytes, str] = {}  # HMAC secret -> where it was first given (kept in memory only)
        # One item per agency in each list (parallel lists: no tuple per agency for the collector to walk)
        self.agencies: list[Agency] = []
        self.keys: list[str] = []  # canonical code
        self.others: list[str] = []  # the other standard form (or the key again)
        self.places: list[object] = []  # per entry: its CSV line number, or its TOML label "agency[3] (H41)"
        self.explicit_parents: list[int] = []  # the entries whose parent was given, not taken from the code
        self.files: list[tuple[int, Path]] = []  # (index of the file's first entry, file), in reading order
        self.routes: list[Route] = []
        self.route_places: list[tuple[Path, str]] = []
        self.prefixes: dict[str, tuple[str, str]] = {}  # route key -> (prefix as written, place)

    def shared_secret(self, secret: bytes | None, place: str) -> str | None:
        """Where another agency or route was given ``secret``, else None (and ``place`` now holds it).

        HMAC authentication names the agency and proves it with the secret: two that share one can each sign
        requests as the other, so the second is refused like a token used twice."""
        if secret is None:
            return None
        first = self.secrets.setdefault(secret, place)
        return None if first == place else f"the same HMAC secret is already used at {first}"

    def start_file(self, path: Path) -> None:
        self.files.append((len(self.agencies), path))

    def located(self, index: int) -> tuple[Path, object]:
        """The file and the label (line number or TOML label) of entry ``index``."""
        file = self.files[bisect.bisect_right([start for start, _ in self.files], index) - 1][1]
        return file, self.places[index]

    def place(self, index: int) -> str:
        file, label = self.located(index)
        return f"{file}: line {label}" if isinstance(label, int) else f"{file}: {label}"

    def error_at(self, index: int, key: str, problem: str) -> ConfigError:
        file, label = self.located(index)
        return ConfigError(file, f"line {label}, {key}" if isinstance(label, int) else f"{label}.{key}", problem)

    def conflict(self) -> ConfigError | None:
        """The first agency registered twice or token used twice, in reading order, as an error."""
        keys: dict[str, int] = {}
        tokens: dict[bytes, int] = {}
        for index, (agency, key) in enumerate(zip(self.agencies, self.keys)):
            first = keys.setdefault(key, index)
            if first != index:
                return self.error_at(index, "code", f"{key} is already registered at {self.place(first)}")
            token = agency.credentials.token_sha256
            if token is not None:
                first = tokens.setdefault(token, index)
                if first != index:
                    return self.error_at(index, "token_sha256",
                                         f"the same token_sha256 is already used at {self.place(first)}")
        return None

    def check_parents(self, registry: Registry) -> None:
        """A parent given is a registered agency, and no chain of parents comes back to where it started.

        ``parent`` decides what an agency may see (the statistics of the agencies under it): a typo was accepted,
        and a cycle showed each agency in it the others' statistics.  Only a parent given can start a cycle (the
        parent taken from a code is always a level above), and only those are checked: a national load gives none.
        """
        for index in self.explicit_parents:
            agency = self.agencies[index]
            chain, seen = [agency.key], {agency.key}
            parent = agency.parent
            while parent is not None:
                above = registry.principal(parent)
                if not isinstance(above, Agency):
                    if len(chain) == 1:
                        raise self.error_at(index, "parent", f"{parent} is not registered (in any of the agency "
                                                             "files or directories)")
                    break
                chain.append(parent)
                if parent == agency.key:
                    raise self.error_at(index, "parent", "a cycle of parents: " + " -> ".join(chain))
                if parent in seen:  # a cycle above this agency: reported from the agency of it whose parent was given
                    break
                seen.add(parent)
                parent = above.parent

    def build(self, config_path: Path) -> Registry:
        try:
            registry = Registry._prepared(zip(self.agencies, self.keys, zip(self.keys, self.others)), self.routes)
        except (ValueError, AxisError) as exc:
            raise (self.conflict() or ConfigError(config_path, "registry", str(exc))) from None
        self.check_parents(registry)
        route_tokens: dict[bytes, str] = {}
        for route, (file, label) in zip(self.routes, self.route_places):
            token = route.credentials.token_sha256
            if token is None:
                continue
            agency = registry.by_token_sha256(token)
            if agency is not None:
                index = next(i for i, known in enumerate(self.agencies) if known is agency)
                raise ConfigError(file, f"{label}.token_sha256",
                                  f"the same token_sha256 is already used at {self.place(index)}")
            if token in route_tokens:
                raise ConfigError(file, f"{label}.token_sha256",
                                  f"the same token_sha256 is already used at {route_tokens[token]}")
            route_tokens[token] = f"{file}: {label}"
        return registry


# -- TOML agency files

def _claim_secret(reg: _Registry, s: _Section, path: Path, credentials: Credentials) -> None:
    problem = reg.shared_secret(credentials.hmac_secret, f"{path}: {s.name}")
    if problem is not None:
        raise s.error("hmac_secret_file" if s.has("hmac_secret_file") else "hmac_secret_env", problem)


def _credentials(s: _Section) -> Credentials:
    token = s.get("token_sha256", str, None)
    secret_file, secret_env = s.get("hmac_secret_file", str, None), s.get("hmac_secret_env", str, None)
    digest = secret = None
    if token is not None:
        try:
            digest = _token_sha256(token)
        except ValueError as exc:
            raise s.error("token_sha256", str(exc)) from None
    if secret_file is not None and secret_env is not None:
        raise s.error("hmac_secret_env", "give hmac_secret_file or hmac_secret_env, not both")
    try:
        if secret_file is not None:
            if not secret_file:
                raise ValueError("expected a file path, got an empty string")
            secret = _secret_from_file(s.resolve(secret_file))
        elif secret_env is not None:
            secret = _secret_from_env(secret_env)
    except ValueError as exc:
        raise s.error("hmac_secret_file" if secret_file is not None else "hmac_secret_env", str(exc)) from None
    return Credentials(token_sha256=digest, hmac_secret=secret) if digest or secret else _NO_CREDENTIALS


def _signature_policy(s: _Section, reg: _Registry) -> SignaturePolicy:
    text = s.get("signature", str, None)
    policy = reg.default_policy if text is None else _SIGNATURE.get(text)
    if policy is None:
        raise s.error("signature", f'expected "require" or "legacy", got {text!r}')
    return policy


def _strict(s: _Section, key: str, text: str) -> AgencyCode:
    try:
        return parse_strict(text)
    except AxisError as exc:
        raise s.error(key, exc.problem.detail) from None


def _read_agency(path: Path, index: int, table: Any, reg: _Registry) -> None:
    s = _Section(path, f"agency[{index}]", table)
    code = _strict(s, "code", s.required("code", str, 'e.g. code = "000.00.00.H41"'))
    s.name = f"agency[{index}] ({code.text})"
    key, other, parent = _forms(code)
    name = s.required("name", str, 'e.g. name = "UBND tỉnh Nghệ An"')
    if not name.strip():
        raise s.error("name", "must not be empty")
    parent_text = s.get("parent", str, None)
    if parent_text is not None:
        parent = _forms(_strict(s, "parent", parent_text))[0]
        if parent == key:
            raise s.error("parent", "an agency cannot be its own parent")
        reg.explicit_parents.append(len(reg.agencies))
    mode_text = s.get("delivery", str, "pull")
    mode = _DELIVERY.get(mode_text)
    if mode is None:
        raise s.error("delivery", f'expected "pull" or "push", got {mode_text!r}')
    url = s.get("push_url", str, None)
    if mode is DeliveryMode.PUSH and url is None:
        raise s.error("push_url", 'required when delivery = "push"')
    if mode is DeliveryMode.PULL and url is not None:
        raise s.error("push_url", 'only for delivery = "push" (this agency pulls from its mailbox)')
    if url is not None:
        try:
            url = _url(url)
        except ValueError as exc:
            raise s.error("push_url", str(exc)) from None
    policy = _signature_policy(s, reg)
    certificates = s.paths("certificates")
    for cert in certificates:
        if not cert.is_file():
            raise s.error("certificates", f"certificate file {cert} does not exist")
    # Read now, as axisd reads them at start: a file that is not PEM passed check-config and then stopped axisd.
    pem.check_certificates(path, s.key("certificates"), certificates)
    calendar = s.text("calendar")
    if calendar is not None and calendar not in reg.calendars:
        known = ", ".join(sorted(reg.calendars)) or "none is defined"
        raise s.error("calendar", f"no [deadlines.calendars.{calendar}] ({known})")
    credentials = _credentials(s)
    if not credentials:
        raise s.error("token_sha256", "an agency needs a credential: token_sha256, hmac_secret_file or "
                                      "hmac_secret_env ('axisctl token' makes a token and its hash)")
    _claim_secret(reg, s, path, credentials)
    system_id = s.text("vxp_system_id")
    if system_id is not None:
        if credentials.hmac_secret is None:
            raise s.error("vxp_system_id", "the VXP door needs the system's shared secret: give hmac_secret_file "
                                           "or hmac_secret_env")
        if system_id in reg.system_ids:
            raise s.error("vxp_system_id", f"{system_id!r} is already used at {reg.system_ids[system_id]}")
        reg.system_ids[system_id] = f"{path}: {s.name}"
    s.done()
    agency = Agency(code=code, name=name.strip(), parent=parent, delivery=mode, push_url=url,
                    credentials=credentials, signature_policy=policy, certificates=certificates, calendar=calendar,
                    vxp_system_id=system_id)
    reg.agencies.append(agency)
    reg.keys.append(key)
    reg.others.append(other)
    reg.places.append(s.name)


def _read_route(path: Path, index: int, table: Any, reg: _Registry) -> None:
    s = _Section(path, f"route[{index}]", table)
    name = s.required("name", str, 'e.g. name = "national"').strip()
    if not name:
        raise s.error("name", "must not be empty")
    s.name = f"route[{index}] ({name})"
    for route, (file, label) in zip(reg.routes, reg.route_places):
        if route.name == name:
            raise s.error("name", f"route {name!r} is already defined at {file}: {label}")
    prefixes = s.required("prefixes", list, 'e.g. prefixes = ["G", "H40"]')
    if not prefixes or not all(isinstance(p, str) for p in prefixes):
        raise s.error("prefixes", 'expected a non-empty list of code prefixes, e.g. ["G", "H40", "000.00.00.H41"]')
    for prefix in prefixes:
        try:
            key = route_key(prefix)
        except AxisError as exc:
            raise s.error("prefixes", f"{prefix!r}: {exc.problem.detail}") from None
        if key in reg.prefixes:
            other, where = reg.prefixes[key]
            same = "" if other == prefix else f" (as {other!r})"
            raise s.error("prefixes", f"prefix {prefix!r} is already claimed{same} at {where}")
        reg.prefixes[key] = (prefix, f"{path}: {s.name}")
    delivery_text = s.get("delivery", str, "push")
    try:
        delivery = RouteDelivery(delivery_text)
    except ValueError:
        raise s.error("delivery", f'expected "push", "vxp" or "pull", got {delivery_text!r}') from None
    url = s.get("url", str, None)
    if delivery is RouteDelivery.PULL:
        if url is not None:
            raise s.error("url", 'only for delivery = "push" or "vxp" (the lower axis of a "pull" route connects '
                                 "to this one's VXP door)")
    else:
        if url is None:
            raise s.error("url", 'required, e.g. url = "https://trucquocgia.example/vxp"')
        try:
            url = _url(url)
        except ValueError as exc:
            raise s.error("url", str(exc)) from None
    policy = _signature_policy(s, reg)
    credentials = _credentials(s)
    system_id = s.text("vxp_system_id")
    if delivery is RouteDelivery.PUSH:
        if system_id is not None:
            raise s.error("vxp_system_id", 'only for delivery = "vxp" or "pull"')
    else:
        whose = "axis's own system id at the upstream axis" if delivery is RouteDelivery.VXP else \
            "the lower axis's system id on this axis's VXP door"
        if system_id is None:
            raise s.error("vxp_system_id", f'required with delivery = "{delivery.value}": {whose}')
        if credentials.hmac_secret is None:
            raise s.error("hmac_secret_file", f'required with delivery = "{delivery.value}": the secret shared '
                                              "with that axis (or hmac_secret_env)")
        if delivery is RouteDelivery.PULL:
            if system_id in reg.system_ids:
                raise s.error("vxp_system_id", f"{system_id!r} is already used at {reg.system_ids[system_id]}")
            reg.system_ids[system_id] = f"{path}: {s.name}"
    _claim_secret(reg, s, path, credentials)
    s.done()
    reg.routes.append(Route(name=name, prefixes=tuple(prefixes), url=url, credentials=credentials,
                            delivery=delivery, vxp_system_id=system_id, signature_policy=policy))
    reg.route_places.append((path, s.name))


def _tables(path: Path, raw: dict[str, Any], name: str) -> list[Any]:
    tables = raw.get(name, [])
    if not isinstance(tables, list):
        raise ConfigError(path, name, f"expected [[{name}]] tables (an array of tables), not [{name}]")
    return tables


def read_agency_file(path: Path, reg: _Registry) -> None:
    raw = read_toml(path)
    for name in raw:
        if name not in ("agency", "route"):
            raise ConfigError(path, name, "unknown section (expected [[agency]] or [[route]] tables)")
    reg.start_file(path)
    for index, table in enumerate(_tables(path, raw, "agency"), start=1):
        _read_agency(path, index, table, reg)
    for index, table in enumerate(_tables(path, raw, "route"), start=1):
        _read_route(path, index, table, reg)


# -- CSV directories

def read_directory(path: Path, reg: _Registry) -> None:
    """Read one CSV directory into ``reg``.  The row loop is the hot path of a national-scale load:
    beyond parsing the code (``parse_strict``) and building the Agency, keep per-row work minimal."""
    try:
        stream = sources.open_text(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot be read ({exc.strerror or exc})") from None
    with stream:
        try:
            _read_rows(path, csv.reader(stream, strict=True), reg)
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, exc) from None


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> ConfigError:
    """The line of the first byte that is not UTF-8 (the decoder's position is within a chunk, not the file)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as found:
        exc = found
    line = data.count(b"\n", 0, exc.start) + 1
    return ConfigError(path, f"line {line}", f"not valid UTF-8 ({exc.reason})")


def _read_rows(path: Path, reader: Any, reg: _Registry) -> None:
    def error(column: str, problem: str) -> ConfigError:
        return ConfigError(path, f"line {reader.line_num}, {column}" if column else f"line {reader.line_num}",
                           problem)

    try:
        header = next(reader, None)
        if header is None:
            raise ConfigError(path, "", f"empty; expected a header row with at least {','.join(CSV_REQUIRED)}")
        columns = [c.strip() for c in header]
        for c in columns:
            if c not in CSV_COLUMNS:
                raise error(c, f"unknown column (expected some of {','.join(CSV_COLUMNS)})")
            if columns.count(c) > 1:
                raise error(c, "column given twice")
        for c in CSV_REQUIRED:
            if c not in columns:
                raise error(c, f"required column missing from the header row ({','.join(columns)})")
        width = len(columns)
        # Absent optional columns read the empty string appended to each row at index ``width``.
        getter: Callable[[list[str]], tuple[str, ...]] = operator.itemgetter(
            *(columns.index(c) if c in columns else width for c in CSV_COLUMNS))
        reg.start_file(path)
        add_agency, add_key, add_other, add_place = (reg.agencies.append, reg.keys.append, reg.others.append,
                                                     reg.places.append)
        default_policy, pull, make_agency, make_credentials = (reg.default_policy, DeliveryMode.PULL, _make_agency,
                                                               _make_credentials)
        envs: dict[str, bytes] = {}
        for row in reader:
            if len(row) != width:
                if not row:
                    continue  # a blank line
                raise error("", f"{len(row)} fields where the header has {width}")
            row.append("")
            code_text, name, parent_text, mode_text, url, token, env, policy_text = getter(row)
            try:
                code = parse_strict(code_text)
            except AxisError as exc:
                raise error("code", exc.problem.detail) from None
            key, other, parent = _forms(code)
            if not name or name.isspace():
                raise error("name", "must not be empty")
            mode, policy, push_url = pull, default_policy, None
            if parent_text or mode_text or url or policy_text:  # all empty in most rows
                if parent_text:
                    try:
                        parent = _forms(parse_strict(parent_text))[0]
                    except AxisError as exc:
                        raise error("parent", exc.problem.detail) from None
                    if parent == key:
                        raise error("parent", "an agency cannot be its own parent")
                    reg.explicit_parents.append(len(reg.agencies))
                if mode_text:
                    mode = _DELIVERY.get(mode_text)  # type: ignore[assignment]
                    if mode is None:
                        raise error("delivery", f'expected "pull" or "push" (or empty: pull), got {mode_text!r}')
                if mode is pull and url:
                    raise error("push_url", 'only for delivery = "push" (this agency pulls from its mailbox)')
                if mode is not pull:
                    if not url:
                        raise error("push_url", 'required when delivery = "push"')
                    try:
                        push_url = _url(url)
                    except ValueError as exc:
                        raise error("push_url", str(exc)) from None
                if policy_text:
                    policy = _SIGNATURE.get(policy_text)  # type: ignore[assignment]
                    if policy is None:
                        raise error("signature", f'expected "require" or "legacy" (or empty: the default), '
                                                 f"got {policy_text!r}")
            if token or env:
                digest = secret = None
                if token:
                    try:
                        digest = _token_sha256(token)
                    except ValueError as exc:
                        raise error("token_sha256", str(exc)) from None
                if env:
                    secret = envs.get(env)
                    if secret is None:
                        try:
                            secret = envs[env] = _secret_from_env(env)
                        except ValueError as exc:
                            raise error("hmac_secret_env", str(exc)) from None
                    shared = reg.shared_secret(secret, f"{path}: line {reader.line_num}")
                    if shared is not None:
                        raise error("hmac_secret_env", shared)
                credentials = make_credentials(token_sha256=digest, hmac_secret=secret)
            else:
                credentials = _NO_CREDENTIALS  # allowed here: a directory entry not yet connected
            add_agency(make_agency(code=code, name=name.strip(), parent=parent, delivery=mode, push_url=push_url,
                                   credentials=credentials, signature_policy=policy, certificates=(),
                                   calendar=None, vxp_system_id=None))
            add_key(key)
            add_other(other)
            add_place(reader.line_num)
    except csv.Error as exc:
        raise ConfigError(path, f"line {reader.line_num}", f"not valid CSV ({exc})") from None


# -- the [registry] section

def read_registry(path: Path, data: Any, require_valid_signature: bool,
                  calendars: frozenset[str] = frozenset()) -> tuple[Registry, tuple[Path, ...]]:
    """The registry built from every file the section lists, and those files (in order)."""
    s = _Section(path, "registry", data)
    agency_files, directories = s.paths("agencies"), s.paths("directories")
    s.done()
    seen: dict[Path, str] = {}
    for key, files, other in (("agencies", agency_files, ".csv"), ("directories", directories, ".toml")):
        for file in files:
            resolved = file.resolve()
            if resolved in seen:
                raise s.error(key, f"{file} is listed twice (also in registry.{seen[resolved]})")
            seen[resolved] = key
            if not file.is_file():
                raise s.error(key, f"file {file} does not exist")
            if file.suffix.lower() == other:
                hint = "directories (CSV)" if other == ".csv" else "agencies (TOML)"
                raise s.error(key, f"{file} looks like it belongs in registry.{hint}")
    reg = _Registry(SignaturePolicy.REQUIRE if require_valid_signature else SignaturePolicy.LEGACY, calendars)
    # Hundreds of thousands of new objects, none in a reference cycle: the cyclic collector would
    # only walk them again and again (a third of the load time of a national directory).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for file in agency_files:
            read_agency_file(file, reg)
        for file in directories:
            read_directory(file, reg)
        return reg.build(path), (*agency_files, *directories)
    finally:
        if collecting:
            if not gc.get_freeze_count():
                # Move the young objects straight to the oldest generation (two list splices) rather than
                # have the next young collection walk them all once more (0.3 s for a national directory).
                # Skipped if the process froze objects itself: unfreeze() would undo that.
                gc.freeze()
                gc.unfreeze()
            gc.enable()
