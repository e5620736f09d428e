"""axisd.toml: every section, its defaults, durations and sizes; errors name the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from axis.config import (
    AxisConfig,
    ConfigError,
    DeliveryConfig,
    IdentityConfig,
    ServerConfig,
    StorageConfig,
    load,
    parse_duration,
    parse_size,
)
from axis.registry import DeliveryMode

ROOT = Path(__file__).resolve().parents[2]
AXIS = '[axis]\ncode = "000.00.99.H41"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "axisd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_demo_configuration_loads() -> None:
    config = load(ROOT / "conf" / "axisd.toml")
    assert isinstance(config, AxisConfig)
    assert config.server.port == 8080 and config.server.host == "127.0.0.1"
    assert config.server.data_dir == (ROOT / "conf" / "../var")
    assert config.server.request_timeout == 60.0
    assert config.limits.max_bytes == 64 * 1024 * 1024
    assert config.axis == IdentityConfig(code="000.00.99.H41", name="Trục liên thông tỉnh (demo)")
    assert config.delivery == DeliveryConfig() and config.storage == StorageConfig()
    assert config.registry_files == (ROOT / "conf" / "agencies.toml",)
    assert config.registry.summary() == {"agencies": 3, "pull": 2, "push": 1, "routes": 0}
    g22 = config.registry.get("G22")
    assert g22 is not None and g22.delivery is DeliveryMode.PUSH and g22.push_url == "http://127.0.0.1:8091/inbox"
    assert g22.credentials.hmac_secret and g22.credentials.token_sha256


def test_only_the_axis_code_is_required(tmp_path: Path) -> None:
    config = load(write(tmp_path, '[axis]\ncode = "H41.99"\n'))
    assert config.axis == IdentityConfig(code="000.00.99.H41")  # stored canonical, whatever the grammar
    assert config.server == ServerConfig(data_dir=tmp_path / "var")
    assert config.delivery == DeliveryConfig() and config.storage == StorageConfig()
    assert len(config.registry) == 0 and config.registry_files == ()


def test_durations_and_sizes_with_units(tmp_path: Path) -> None:
    config = load(write(tmp_path, AXIS + '[server]\nrequest_timeout = "500ms"\n'
                                         '[limits]\nmax_package_bytes = "10MiB"\nmax_text_bytes = "64kB"\n'
                                         '[delivery]\nretry_initial = 2.5\nretry_max = "10m"\ndead_after = "5d"\n'
                                         'connect_timeout = "3s"\ntimeout = "1h"\npoll_interval = "250ms"\n'
                                         "concurrency = 64\nper_host = 8\n"
                                         "[storage]\ngroup_commit_max = 64\nretention_days = 3650\n"
                                         'retention_interval = "15m"\nretention_batch = 50\n'
                                         'group_commit_linger = "2ms"\n'))
    assert config.server.request_timeout == 0.5
    assert config.limits.max_bytes == 10 * 1024 * 1024 and config.limits.max_text == 64000
    assert config.delivery == DeliveryConfig(connect_timeout=3.0, timeout=3600.0, retry_initial=2.5, retry_max=600.0,
                                             dead_after=5 * 86400.0, concurrency=64, per_host=8, poll_interval=0.25)
    assert config.storage == StorageConfig(group_commit_max=64, retention_days=3650, retention_interval=900.0,
                                           retention_batch=50, group_commit_linger=0.002)


def test_the_receipt_key_and_certificate(tmp_path: Path, pems: Path) -> None:
    (tmp_path / "axis.key").write_bytes((pems / "a.key").read_bytes())
    (tmp_path / "axis.pem").write_bytes((pems / "a.pem").read_bytes())
    config = load(write(tmp_path, AXIS + 'key = "axis.key"\ncert = "axis.pem"\n'))
    assert config.axis.key == tmp_path / "axis.key" and config.axis.cert == tmp_path / "axis.pem"


@pytest.mark.parametrize(("value", "seconds"), [
    (5, 5.0), (2.5, 2.5), (0, 0.0), ("500ms", 0.5), ("5s", 5.0), ("10m", 600.0), ("24h", 86400.0), ("5d", 432000.0),
    ("1.5h", 5400.0), (" 3 s ", 3.0),
])
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5", "5 sec", "-1s", -1, True, "1w", "", None, float("inf"), "h"])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(value)


@pytest.mark.parametrize(("value", "size"), [
    (1024, 1024), ("64MiB", 64 * 1024**2), ("10MB", 10_000_000), ("512KiB", 524288), ("1GiB", 1024**3),
    ("100B", 100), ("1.5KiB", 1536), ("2kB", 2000),
])
def test_parse_size(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["64", "64mb", "big", -1, 1.5, True, "1.1B", None])
def test_parse_size_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("[server]\nport = -1\n", "server.port", "positive integer"),
    ("[server]\nport = 70000\n", "server.port", "not a TCP port"),
    ("[server]\nprot = 80\n", "server.prot", "unknown setting"),
    ("[server]\nrequest_timeout = 0\n", "server.request_timeout", "more than zero"),
    ("[server]\nrequest_timeout = \"1 minute\"\n", "server.request_timeout", "expected a duration"),
    ("[limits]\nmax_package_bytes = \"big\"\n", "limits.max_package_bytes", "positive integer"),
    ("[limits]\nmax_package_bytes = 0\n", "limits.max_package_bytes", "positive integer"),
    ("[signatures]\ntrust_ca = [\"missing.pem\"]\n", "signatures.trust_ca", "does not exist"),
    ("[signatures]\nallow_sha1 = \"yes\"\n", "signatures.allow_sha1", "expected bool"),
    ("[delivery]\nretry_initial = \"20m\"\nretry_max = \"10m\"\n", "delivery.retry_initial", "more than delivery.retry_max"),
    ("[delivery]\ntimeout = 0\n", "delivery.timeout", "more than zero"),
    ("[delivery]\nconnect_timeout = \"-5s\"\n", "delivery.connect_timeout", "expected a duration"),
    ("[delivery]\nconcurrency = 0\n", "delivery.concurrency", "positive integer"),
    ("[delivery]\nretries = 3\n", "delivery.retries", "unknown setting"),
    ("[storage]\nretention_days = \"forever\"\n", "storage.retention_days", "positive integer"),
    ("[storage]\nretention_interval = 0\n", "storage.retention_interval", "more than zero"),
    # nanoseconds past the clock overflow SQLite's 64-bit integers beyond three centuries: every poll failed
    ("[delivery]\nretry_max = \"200000d\"\n", "delivery.retry_max", "at most 36500d"),
    ("[storage]\nretention_days = 0\n", "storage.retention_days", "positive integer"),
    ("[storage]\nretention_days = 200000\n", "storage.retention_days", "expected 1..36500"),
    ("[storage]\nretention_batch = 0\n", "storage.retention_batch", "positive integer"),
    ("[registry]\nagencies = [\"missing.toml\"]\n", "registry.agencies", "does not exist"),
    ("[registry]\nagency = []\n", "registry.agency", "unknown setting"),
    ("[routing]\n", "routing", "unknown section"),
    ("[priority]\nlabels = [\"Thường\", \"Khẩn\"]\n", "priority.labels", "expected 5 non-empty names"),
    ("[priority]\nlabels = [\"a\", \"b\", \"c\", \"d\", \" \"]\n", "priority.labels", "non-empty"),
    ("[priority]\noldest_share = 0.9\n", "priority.oldest_share", "from 0 to 0.5"),
    ("[priority]\noldest_share = \"some\"\n", "priority.oldest_share", "from 0 to 0.5"),
    ("[server\n", "", "not valid TOML"),
    ("[server]\ntls_cert = \"axisd.toml\"\n", "server.tls_key", "together"),
    ("[server]\ntls_cert = \"nope.pem\"\ntls_key = \"axisd.toml\"\n", "server.tls_cert", "does not exist"),
    ("[server]\nclient_ca = [\"axisd.toml\"]\n", "server.client_ca", "need TLS"),
    ("[server]\ntls_cert = \"axisd.toml\"\ntls_key = \"axisd.toml\"\nrequire_client_cert = true\n",
     "server.require_client_cert", "client_ca"),
    ("[server]\nreceive_timeout = 0\n", "server.receive_timeout", "more than zero"),
    ("[delivery]\ntls_ca = [\"nope.pem\"]\n", "delivery.tls_ca", "does not exist"),
    ("[delivery]\ntls_client_cert = \"axisd.toml\"\n", "delivery.tls_client_key", "together"),
    ("[delivery]\nupstream_poll_interval = 0\n", "delivery.upstream_poll_interval", "more than zero"),
    ("[storage]\ngroup_commit_linger = \"1s\"\n", "storage.group_commit_linger", "at most 100ms"),
    ("[storage]\ngroup_commit_linger = -1\n", "storage.group_commit_linger", "expected a duration"),
])
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = write(tmp_path, AXIS + text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.key == key and fragment in info.value.problem
    assert str(info.value).startswith(str(path))
    assert str(info.value) == (f"{path}: {key}: {info.value.problem}" if key else f"{path}: {info.value.problem}")


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("", "axis.code", "required"),
    ("[axis]\nname = \"x\"\n", "axis.code", "required"),
    ("[axis]\ncode = \"000.00.00.h41\"\n", "axis.code", "uppercase"),
    ("[axis]\ncode = \"01.02.G22\"\n", "axis.code", "not for registration"),
    ("[axis]\ncode = \"H41\"\nkey = \"axis.key\"\n", "axis.cert", "together"),
    ("[axis]\ncode = \"H41\"\ncert = \"axis.pem\"\n", "axis.key", "together"),
    ("[axis]\ncode = \"H41\"\nkey = \"k\"\ncert = \"c\"\n", "axis.key", "does not exist"),
    ("[axis]\ncode = \"H41\"\nname = \"  \"\n", "axis.name", "must not be empty"),
])
def test_identity_errors(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text))
    assert info.value.key == key and fragment in info.value.problem


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.toml")


def test_priority_labels_and_share(tmp_path: Path) -> None:
    default = load(write(tmp_path, AXIS)).priority
    assert default.label(0) == "Thường" and default.label(3) == "Hỏa tốc" and default.label(9) == "9"
    assert default.oldest(100) == 25 and default.oldest(2) == 1
    config = load(write(tmp_path, AXIS + '[priority]\nlabels = ["Normal", "Urgent", "Very urgent", "Flash", '
                                         '"Flash, timed"]\noldest_share = 0\n')).priority
    assert config.label(1) == "Urgent" and config.oldest(100) == 0



def test_deadlines_defaults_and_a_calendar_of_its_own(tmp_path: Path) -> None:
    from datetime import date, time

    from axis.deadlines import WorkCalendar

    default = load(write(tmp_path, AXIS)).deadlines
    assert default.default == WorkCalendar() and default.watch == 30 * 86400 and default.refresh == 60
    config = load(write(tmp_path, AXIS + '[deadlines]\ndays = ["Mon", "Tues", "wednesday", " thurs ", "fri"]\n'
                                         'end_of_day = "16:30"\nholidays = [2026-09-02, "2026-09-01"]\n'
                                         'workdays = ["2026-08-29"]\nwatch = "7d"\nrefresh = "30s"\n'
                                         '[deadlines.calendars.mot-cua]\ndays = ["mon", "sat"]\n'
                                         'end_of_day = 11:30:00\n')).deadlines
    base = config.default
    assert base.days == frozenset(range(5)) and base.end_of_day == time(16, 30)
    assert base.holidays == {date(2026, 9, 2), date(2026, 9, 1)} and base.workdays == {date(2026, 8, 29)}
    assert (config.watch, config.refresh) == (7 * 86400, 30)
    one_stop = config.calendars["mot-cua"]
    assert one_stop.days == {0, 5} and one_stop.end_of_day == time(11, 30)
    assert one_stop.holidays == base.holidays  # what it does not set comes from [deadlines]


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ('[deadlines]\ndays = []\n', "deadlines.days", "at least one working weekday"),
    ('[deadlines]\ndays = ["monday", "funday"]\n', "deadlines.days", "weekday names"),
    ('[deadlines]\ndays = ["mon", "monkey"]\n', "deadlines.days", "weekday names"),  # not a Monday
    ('[deadlines]\ndays = ["mo"]\n', "deadlines.days", "weekday names"),
    ('[deadlines]\ndays = [1]\n', "deadlines.days", "weekday names"),
    ('[deadlines]\nend_of_day = "5pm"\n', "deadlines.end_of_day", "time of day"),
    ('[deadlines]\nend_of_day = "24:00"\n', "deadlines.end_of_day", "time of day"),
    ('[deadlines]\nend_of_day = "00:00"\n', "deadlines.end_of_day", "cannot end at 00:00"),
    ('[deadlines]\nend_of_day = 00:00:00\n', "deadlines.end_of_day", "23:59:59"),
    ('[deadlines]\nholidays = ["2026-02-30"]\n', "deadlines.holidays", "expected dates"),
    ('[deadlines]\nholidays = [2026-09-02T08:00:00]\n', "deadlines.holidays", "expected dates"),
    ('[deadlines]\nwatch = "forever"\n', "deadlines.watch", "duration"),
    ('[deadlines]\nend = "17:00"\n', "deadlines.end", "unknown setting"),
    ('[deadlines.calendars."a b"]\n', "deadlines.calendars.a b", "calendar name"),
    ('[deadlines.calendars.x]\ndays = ["sun"]\nhours = 8\n', "deadlines.calendars.x.hours", "unknown setting"),
])
def test_deadlines_errors_name_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, AXIS + text))
    assert info.value.key == key and fragment in info.value.problem


def test_the_vxp_door_settings(tmp_path: Path) -> None:
    from axis.config.vxp import VxpConfig

    assert load(write(tmp_path, AXIS)).vxp == VxpConfig(enabled=True, prefix="/vxp", port=0)
    own = load(write(tmp_path, AXIS + '[vxp]\nprefix = ""\nport = 8081\n')).vxp
    assert (own.prefix, own.port, own.segments) == ("", 8081, ())
    assert load(write(tmp_path, AXIS + '[vxp]\nprefix = "/lgsp/vxp/"\n')).vxp.segments == (b"lgsp", b"vxp")


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ('[vxp]\nprefix = ""\n', "vxp.prefix", "port of its own"),
    ('[vxp]\nprefix = "/a b"\n', "vxp.prefix", "expected a path"),
    ('[vxp]\nport = 70000\n', "vxp.port", "TCP port"),
    ('[vxp]\nenabled = "yes"\n', "vxp.enabled", "expected bool"),
])
def test_vxp_errors_name_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, AXIS + text))
    assert info.value.key == key and fragment in info.value.problem


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_auto_intake_processes_leave_the_daemon_a_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       cores: int, expected: int) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)))
    path = write(tmp_path, '[axis]\ncode = "H41.99"\n[server]\nintake_processes = "auto"\n')
    assert load(path).server.intake_processes == expected
    assert load(write(tmp_path, '[axis]\ncode = "H41.99"\n[server]\nintake_processes = 3\n')).server.intake_processes == 3


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two EC certificates and keys (a.pem/a.key, b.pem/b.key), an encrypted key, and a file that is not PEM."""
    from cryptography.hazmat.primitives import serialization

    from axis.signature import pki
    directory = tmp_path_factory.mktemp("pems")
    ca = pki.create_ca("test CA", key_kind="ec")
    for stem in ("a", "b"):
        pki.write(pki.issue(ca, "000.00.00.H41", "Cơ quan", key_kind="ec"), directory, stem)
    issued = pki.issue(ca, "000.00.00.H41", "Cơ quan", key_kind="ec")
    pki.write(issued, directory, "c")
    (directory / "c.key").write_bytes(issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")))
    (directory / "junk.pem").write_text("not a certificate\n")
    return directory


@pytest.mark.parametrize(("section", "cert", "key", "at", "fragment"), [
    ("server", "tls_cert", "tls_key", "server.tls_cert", "holds no PEM certificate"),
    ("delivery", "tls_client_cert", "tls_client_key", "delivery.tls_client_cert", "holds no PEM certificate"),
])
def test_tls_files_that_are_not_pem_are_config_errors(tmp_path: Path, pems: Path, section: str, cert: str, key: str,
                                                      at: str, fragment: str) -> None:
    """check-config passed such files, and OpenSSL's exception ended axisd's start."""
    path = write(tmp_path, AXIS + f'[{section}]\n{cert} = "{pems / "junk.pem"}"\n{key} = "{pems / "a.key"}"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.key == at and fragment in info.value.problem


@pytest.mark.parametrize(("key_file", "fragment"), [("b.key", "is not the key of the certificate"),
                                                    ("c.key", "is encrypted"), ("junk.pem", "holds no PEM private key")])
def test_a_tls_key_must_be_the_certificates_and_readable(tmp_path: Path, pems: Path, key_file: str,
                                                         fragment: str) -> None:
    for section, cert, key in (("server", "tls_cert", "tls_key"), ("delivery", "tls_client_cert", "tls_client_key")):
        path = write(tmp_path, AXIS + f'[{section}]\n{cert} = "{pems / "a.pem"}"\n{key} = "{pems / key_file}"\n')
        with pytest.raises(ConfigError) as info:
            load(path)
        assert info.value.key == f"{section}.{key}" and fragment in info.value.problem


def test_tls_files_that_are_right_load(tmp_path: Path, pems: Path) -> None:
    path = write(tmp_path, AXIS + f'[server]\ntls_cert = "{pems / "a.pem"}"\ntls_key = "{pems / "a.key"}"\n'
                 f'client_ca = ["{pems / "b.pem"}"]\n[delivery]\ntls_ca = ["{pems / "b.pem"}"]\n')
    config = load(path)
    assert config.server.tls.cert == pems / "a.pem" and config.delivery.tls_ca == (pems / "b.pem",)
    path.write_text(AXIS + f'[delivery]\ntls_ca = ["{pems / "junk.pem"}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.key == "delivery.tls_ca"


@pytest.mark.parametrize(("key_file", "cert_file", "at", "fragment"), [
    ("junk.pem", "a.pem", "axis.key", "not a PEM private key"),
    ("c.key", "c.pem", "axis.key", "encrypted"),
    ("b.key", "a.pem", "axis.key", "does not match the certificate"),
    ("a.key", "junk.pem", "axis.cert", "not a PEM or DER certificate"),
])
def test_the_receipt_key_and_certificate_are_read_at_load(tmp_path: Path, pems: Path, key_file: str, cert_file: str,
                                                          at: str, fragment: str) -> None:
    """check-config passed them, and axisd then could not start ("cannot start: ... not a PEM private key")."""
    path = write(tmp_path, AXIS + f'key = "{pems / key_file}"\ncert = "{pems / cert_file}"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert (info.value.path, info.value.key) == (path, at) and fragment in info.value.problem
    assert load(write(tmp_path, AXIS + f'key = "{pems / "a.key"}"\ncert = "{pems / "a.pem"}"\n')).axis.key == \
        pems / "a.key"


@pytest.mark.parametrize(("text", "key"), [
    ("[server]\nrequest_timeout = " + "9" * 400 + "\n", "server.request_timeout"),
    ("[limits]\nmax_package_bytes = " + "9" * 400 + "\n", "limits.max_package_bytes"),
])
def test_an_integer_too_large_for_a_float_is_a_config_error(tmp_path: Path, text: str, key: str) -> None:
    """TOML integers have no bound in tomllib: float() raised OverflowError, a traceback naming no file or key."""
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, AXIS + text))
    assert info.value.key == key


@pytest.mark.parametrize("key", ["host", "data_dir"])
def test_an_empty_host_or_data_dir_is_refused(tmp_path: Path, key: str) -> None:
    """host = "" listened on every interface (Twisted's empty interface), data_dir = "" put the state in the
    configuration's own directory: both were accepted as if they were the defaults."""
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, AXIS + f'[server]\n{key} = " "\n'))
    assert info.value.key == f"server.{key}" and "must not be empty" in info.value.problem


@pytest.mark.parametrize(("mode", "refused"), [(0o644, True), (0o604, True), (0o660, True), (0o640, False),
                                               (0o600, False), (0o400, False)])
def test_a_private_key_open_to_other_users_is_refused(tmp_path: Path, pems: Path, mode: int, refused: bool) -> None:
    """Whoever reads axis's receipt key or TLS key can sign receipts or answer as axis: a key file that other users
    may read (or its group change) is refused, naming the file, its mode and the remedy; a group may read it."""
    key = tmp_path / "own.key"
    key.write_bytes((pems / "a.key").read_bytes())
    key.chmod(mode)
    for text, at in ((AXIS + f'key = "{key}"\ncert = "{pems / "a.pem"}"\n', "axis.key"),
                     (AXIS + f'[server]\ntls_cert = "{pems / "a.pem"}"\ntls_key = "{key}"\n', "server.tls_key"),
                     (AXIS + f'[delivery]\ntls_client_cert = "{pems / "a.pem"}"\ntls_client_key = "{key}"\n',
                      "delivery.tls_client_key")):
        path = write(tmp_path, text)
        if not refused:
            load(path)
            continue
        with pytest.raises(ConfigError) as info:
            load(path)
        assert (info.value.path, info.value.key) == (path, at)
        assert info.value.problem == (f"{key} is open to other users of this machine (mode {mode:04o}): make it "
                                      f"readable by axisd only (chmod 600 {key}, or 640 for axisd's group)")
