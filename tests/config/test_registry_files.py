"""Agency files: TOML [[agency]]/[[route]] tables and CSV directories, read into one Registry.

Both code grammars resolve to one agency; routes match the longest prefix; every error names the
file, the key (or CSV line and column) and the problem, and never shows a secret; a national-scale
directory loads in under 3 seconds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from directory import national_directory
from hypothesis import given
from hypothesis import strategies as st

from axis.agencycode import parse_strict
from axis.config import AxisConfig, ConfigError, load
from axis.config.registry import _forms
from axis.registry import Agency, Credentials, DeliveryMode, SignaturePolicy


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_A, TOKEN_B, TOKEN_C = sha("token-a"), sha("token-b"), sha("token-c")
SECRET = "s3cr3t-hmac-value-never-shown"


def setup(tmp_path: Path, agencies: str = "", csv_text: str | None = None, *, require: bool = False,
          extra_toml: dict[str, str] | None = None) -> Path:
    """An axisd.toml in ``tmp_path`` naming agencies.toml (and dir.csv when given)."""
    (tmp_path / "agencies.toml").write_text(agencies, encoding="utf-8")
    files = ['"agencies.toml"']
    for name, text in (extra_toml or {}).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(f'"{name}"')
    directories = ""
    if csv_text is not None:
        (tmp_path / "dir.csv").write_text(csv_text, encoding="utf-8")
        directories = 'directories = ["dir.csv"]\n'
    config = tmp_path / "axisd.toml"
    config.write_text(f'[axis]\ncode = "000.00.99.H41"\n[signatures]\nrequire_valid_signature = {str(require).lower()}\n'
                      f"[registry]\nagencies = [{', '.join(files)}]\n{directories}", encoding="utf-8")
    return config


def agency(code: str, token: str | None = TOKEN_A, **keys: str) -> str:
    lines = ["[[agency]]", f'code = "{code}"', 'name = "Cơ quan thử nghiệm"']
    if token:
        lines.append(f'token_sha256 = "{token}"')
    lines += [f"{k} = {v}" if v[:1] in '["' else f'{k} = "{v}"' for k, v in keys.items()]
    return "\n".join(lines) + "\n\n"


def refused(config: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(config)
    return info.value


# -- what loads


def test_both_grammars_resolve_to_one_agency(tmp_path: Path) -> None:
    config = load(setup(tmp_path, agency("000.00.00.H41") + agency("H41.01", TOKEN_B) + agency("G22.18.02.001", TOKEN_C)))
    h41, sub, deep = config.registry.get("000.00.00.H41"), config.registry.get("000.00.01.H41"), config.registry.get("G22.18.02.001")
    assert h41 is not None and config.registry.get("H41") is h41
    assert sub is not None and config.registry.get("H41.01") is sub and sub.key == "000.00.01.H41"
    assert deep is not None and config.registry.get("001.02.18.G22") is deep
    assert sub.parent == "000.00.00.H41" and h41.parent is None and deep.parent == "000.02.18.G22"
    assert config.registry.by_token_sha256(bytes.fromhex(TOKEN_B)) is sub


def test_every_key_of_an_agency(tmp_path: Path, good_pem: Path) -> None:
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "g22.pem").write_bytes(good_pem.read_bytes())
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "g22.key").write_text(SECRET + "\n")
    config = load(setup(tmp_path, agency("G22.01", parent="000.00.00.H41", delivery="push",
                                         push_url="https://vpcp.example:8443/inbox", hmac_secret_file="secrets/g22.key",
                                         signature="require", certificates='["trust/g22.pem"]')
                        + agency("H41", TOKEN_B)))
    found = config.registry.get("G22.01")
    assert found == Agency(code=parse_strict("G22.01"), name="Cơ quan thử nghiệm", parent="000.00.00.H41",
                           delivery=DeliveryMode.PUSH, push_url="https://vpcp.example:8443/inbox",
                           credentials=Credentials(token_sha256=bytes.fromhex(TOKEN_A), hmac_secret=SECRET.encode()),
                           signature_policy=SignaturePolicy.REQUIRE, certificates=(tmp_path / "trust" / "g22.pem",))


def test_hmac_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXIS_SECRET_H41", SECRET)
    config = load(setup(tmp_path, agency("H41", token=None, hmac_secret_env="AXIS_SECRET_H41")))
    found = config.registry.get("H41")
    assert found is not None and found.credentials == Credentials(hmac_secret=SECRET.encode())


@pytest.mark.parametrize(("require", "expected"), [(False, SignaturePolicy.LEGACY), (True, SignaturePolicy.REQUIRE)])
def test_the_default_signature_policy_follows_signatures(tmp_path: Path, require: bool,
                                                         expected: SignaturePolicy) -> None:
    config = load(setup(tmp_path, agency("H41") + agency("H42", TOKEN_B, signature="legacy"), require=require))
    assert config.registry.get("H41").signature_policy is expected  # type: ignore[union-attr]
    assert config.registry.get("H42").signature_policy is SignaturePolicy.LEGACY  # type: ignore[union-attr]


def test_routes_take_the_longest_prefix(tmp_path: Path) -> None:
    routes = """
[[route]]
name = "national"
prefixes = ["*"]
url = "https://trucquocgia.example/relay"

[[route]]
name = "government"
prefixes = ["G", "000.00.00.H40"]
url = "https://vpcp.example/relay"
token_sha256 = "%s"

[[route]]
name = "g22"
prefixes = ["G22"]
url = "http://10.0.0.22/relay"
""" % TOKEN_B
    config = load(setup(tmp_path, agency("H41") + routes))
    registry = config.registry
    assert [r.name for r in registry.routes] == ["national", "government", "g22"]
    assert registry.route_for("000.00.01.G22").name == "g22"  # type: ignore[union-attr]
    assert registry.route_for("G22.18").name == "g22"  # type: ignore[union-attr]
    assert registry.route_for("G12").name == "government"  # type: ignore[union-attr]
    assert registry.route_for("H40.05").name == "government"  # type: ignore[union-attr]
    assert registry.route_for("000.00.00.K40").name == "national"  # type: ignore[union-attr]
    assert registry.destination("H41").mode is DeliveryMode.PULL  # type: ignore[union-attr]
    assert registry.destination("G12.01").mode is DeliveryMode.UPSTREAM  # type: ignore[union-attr]
    assert registry.routes[1].credentials.token_sha256 == bytes.fromhex(TOKEN_B)
    assert config.registry_files == (tmp_path / "agencies.toml",)


def test_several_files_and_a_directory(tmp_path: Path) -> None:
    config = load(setup(tmp_path, agency("H41"), "code,name\nH42,Tỉnh khác\n",
                        extra_toml={"more.toml": agency("G22", TOKEN_B)}))
    assert config.registry.summary() == {"agencies": 3, "pull": 3, "push": 0, "routes": 0}
    assert config.registry_files == (tmp_path / "agencies.toml", tmp_path / "more.toml", tmp_path / "dir.csv")


# -- errors in TOML agency files: file, key, problem

PUSH_URL = "http://127.0.0.1:8091/inbox"


@pytest.mark.parametrize(("text", "key", "fragment"), [
    (agency("000.00.00.H41", delivery="push"), "agency[1] (000.00.00.H41).push_url", 'required when delivery = "push"'),
    (agency("H41", push_url=PUSH_URL), "agency[1] (H41).push_url", 'only for delivery = "push"'),
    (agency("H41", delivery="push", push_url="ftp://h/x"), "agency[1] (H41).push_url", "http:// or https://"),
    (agency("H41", delivery="push", push_url="http:///x"), "agency[1] (H41).push_url", "with a host"),
    (agency("H41", delivery="push", push_url="http://h:99999/"), "agency[1] (H41).push_url", "not a valid URL"),
    (agency("H41", delivery="mail"), "agency[1] (H41).delivery", 'expected "pull" or "push"'),
    (agency("H41", signature="strict"), "agency[1] (H41).signature", 'expected "require" or "legacy"'),
    (agency("h41"), "agency[1].code", "uppercase"),
    (agency("01.02.G22"), "agency[1].code", "not for registration"),
    (agency("H41.01.00"), "agency[1].code", "all-zero group"),
    ("[[agency]]\nname = \"x\"\n", "agency[1].code", "required"),
    ("[[agency]]\ncode = \"H41\"\ntoken_sha256 = \"%s\"\n" % TOKEN_A, "agency[1] (H41).name", "required"),
    (agency("H41", name_en="x"), "agency[1] (H41).name_en", "unknown setting"),
    (agency("H41", token=None), "agency[1] (H41).token_sha256", "needs a credential"),
    (agency("H41", token="ABC"), "agency[1] (H41).token_sha256", "64 hexadecimal digits"),
    (agency("H41", parent="H41"), "agency[1] (H41).parent", "its own parent"),
    (agency("H41.01", parent="000.00.00.h41"), "agency[1] (H41.01).parent", "uppercase"),
    (agency("H41", certificates='["missing.pem"]'), "agency[1] (H41).certificates", "does not exist"),
    (agency("H41", certificates='"a.pem"'), "agency[1] (H41).certificates", "expected list"),
    (agency("H41", hmac_secret_file="nope.key"), "agency[1] (H41).hmac_secret_file", "does not exist"),
    (agency("H41", hmac_secret_file="s.key", hmac_secret_env="S"), "agency[1] (H41).hmac_secret_env", "not both"),
    (agency("H41", hmac_secret_env="AXIS_TEST_UNSET_VARIABLE"), "agency[1] (H41).hmac_secret_env", "is not set"),
    (agency("H41") + agency("000.00.00.H41", TOKEN_B), "agency[2] (000.00.00.H41).code",
     "000.00.00.H41 is already registered at {dir}/agencies.toml: agency[1] (H41)"),
    (agency("H41") + agency("H42", TOKEN_A), "agency[2] (H42).token_sha256",
     "the same token_sha256 is already used at {dir}/agencies.toml: agency[1] (H41)"),
    # HMAC authentication names the agency and proves it with the secret: a shared secret lets either sign as the other
    (agency("H41", token=None, hmac_secret_file="s.key") + agency("H42", token=None, hmac_secret_file="t.key"),
     "agency[2] (H42).hmac_secret_file", "the same HMAC secret is already used at {dir}/agencies.toml: agency[1] (H41)"),
    (agency("H41", token=None, hmac_secret_file="s.key") + agency("H42", TOKEN_B, hmac_secret_env="AXIS_TEST_SECRET"),
     "agency[2] (H42).hmac_secret_env", "the same HMAC secret is already used at {dir}/agencies.toml: agency[1] (H41)"),
    (agency("H41", hmac_secret_file="s.key") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\ndelivery = \"vxp\"\n"
     "url = \"http://u/vxp\"\nvxp_system_id = \"axis.h41\"\nhmac_secret_file = \"s.key\"\n",
     "route[1] (n).hmac_secret_file", "the same HMAC secret is already used at {dir}/agencies.toml: agency[1] (H41)"),
    ("[agency]\ncode = \"H41\"\n", "agency", "array of tables"),
    ("[agencies]\n", "agencies", "unknown section"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\n", "route[1] (n).url", "required"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = []\nurl = \"http://u/\"\n", "route[1] (n).prefixes", "non-empty"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G1\"]\nurl = \"http://u/\"\n", "route[1] (n).prefixes", "'G1'"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\nurl = \"http://u/\"\n"
     "[[route]]\nname = \"m\"\nprefixes = [\"H40\", \"G\"]\nurl = \"http://v/\"\n",
     "route[2] (m).prefixes", "prefix 'G' is already claimed at {dir}/agencies.toml: route[1] (n)"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"H40\"]\nurl = \"http://u/\"\n"
     "[[route]]\nname = \"m\"\nprefixes = [\"000.00.00.H40\"]\nurl = \"http://v/\"\n",
     "route[2] (m).prefixes", "already claimed (as 'H40')"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\nurl = \"http://u/\"\n"
     "[[route]]\nname = \"n\"\nprefixes = [\"H40\"]\nurl = \"http://v/\"\n", "route[2] (n).name", "already defined"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\nurl = \"http://u/\"\ntoken_sha256 = \"%s\"\n" % TOKEN_A,
     "route[1] (n).token_sha256", "already used at {dir}/agencies.toml: agency[1] (H41)"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\ndelivery = \"relay\"\nurl = \"http://u/\"\n",
     "route[1] (n).delivery", 'expected "push", "vxp" or "pull"'),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\ndelivery = \"vxp\"\nurl = \"http://u/vxp\"\n"
     "hmac_secret_file = \"s.key\"\n", "route[1] (n).vxp_system_id", "axis's own system id at the upstream axis"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\ndelivery = \"vxp\"\nurl = \"http://u/vxp\"\n"
     "vxp_system_id = \"axis.h41\"\n", "route[1] (n).hmac_secret_file", "the secret shared with that axis"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\ndelivery = \"vxp\"\n", "route[1] (n).url", "required"),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"H42\"]\ndelivery = \"pull\"\nurl = \"http://u/\"\n",
     "route[1] (n).url", 'only for delivery = "push" or "vxp"'),
    (agency("H41") + "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\nurl = \"http://u/\"\nvxp_system_id = \"x\"\n",
     "route[1] (n).vxp_system_id", 'only for delivery = "vxp" or "pull"'),
    (agency("H41", hmac_secret_file="s.key", vxp_system_id="vxp.saas.03") + "[[route]]\nname = \"n\"\n"
     "prefixes = [\"H42\"]\ndelivery = \"pull\"\nvxp_system_id = \"vxp.saas.03\"\nhmac_secret_file = \"s.key\"\n",
     "route[1] (n).vxp_system_id", "'vxp.saas.03' is already used at {dir}/agencies.toml: agency[1] (H41)"),
])
def test_agency_file_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str, fragment: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "s.key").write_text(SECRET)
    (tmp_path / "t.key").write_text(SECRET + "\n")  # another file, the same secret
    monkeypatch.setenv("AXIS_TEST_SECRET", SECRET)
    error = refused(setup(tmp_path, text))
    assert error.path == tmp_path / "agencies.toml"
    assert error.key == key
    assert fragment.format(dir=tmp_path) in error.problem
    assert str(error) == f"{tmp_path / 'agencies.toml'}: {key}: {error.problem}"
    assert SECRET not in str(error)


def test_a_duplicate_across_files_names_both(tmp_path: Path) -> None:
    error = refused(setup(tmp_path, agency("000.00.18.G12"), extra_toml={"more.toml": agency("G12.18", TOKEN_B)}))
    assert str(error) == (f"{tmp_path / 'more.toml'}: agency[1] (G12.18).code: 000.00.18.G12 is already registered "
                          f"at {tmp_path / 'agencies.toml'}: agency[1] (000.00.18.G12)")


def test_registry_file_list_errors(tmp_path: Path) -> None:
    config = setup(tmp_path, agency("H41"))
    text = config.read_text()
    config.write_text(text.replace('agencies = ["agencies.toml"]', 'agencies = ["agencies.toml", "./agencies.toml"]'))
    assert refused(config).key == "registry.agencies" and "listed twice" in refused(config).problem
    (tmp_path / "dir.csv").write_text("code,name\n")
    config.write_text(text.replace('agencies = ["agencies.toml"]', 'agencies = ["dir.csv"]'))
    assert "belongs in registry.directories" in refused(config).problem


# -- secrets never appear in messages or reprs


def test_secrets_are_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "my-real-bearer-token-pasted-by-mistake-0123456789-abcdefghijklmn"
    assert len(token) == 64
    cases = [
        agency("H41", token=token),  # the token itself where its hash belongs
        agency("H41", token=None, hmac_secret_env=SECRET),  # the secret where a variable name belongs
        agency("H41", token=None, hmac_secret_env="AXIS_SHORT"),  # a secret too short
        agency("H41", token=None, hmac_secret_file="short.key"),
        agency("H41", delivery="push", push_url=f"https://user:{SECRET}@h.example/inbox"),
        "[[route]]\nname = \"n\"\nprefixes = [\"G\"]\nurl = \"https://u:%s@h/\"\n" % SECRET,
    ]
    monkeypatch.setenv("AXIS_SHORT", "tiny-secret")
    (tmp_path / "short.key").write_text("tiny-secret\n")
    for text in cases:
        error = refused(setup(tmp_path, text))
        for secret in (token, SECRET, "tiny-secret"):
            assert secret not in str(error), str(error)
    # and once loaded, neither the secret nor the token is in any repr
    monkeypatch.setenv("AXIS_GOOD", SECRET)
    monkeypatch.setenv("AXIS_GOOD_TOO", SECRET[::-1])
    config = load(setup(tmp_path, agency("H41", token=None, hmac_secret_env="AXIS_GOOD"), "code,name,hmac_secret_env\n"
                                                                                           "H42,x,AXIS_GOOD_TOO\n"))
    assert SECRET not in repr(config) and SECRET not in repr(list(config.registry))


@pytest.mark.parametrize(("mode", "exposed"), [(0o644, True), (0o666, True), (0o620, True), (0o640, False),
                                               (0o600, False)])
def test_an_hmac_secret_file_open_to_other_users_is_refused(tmp_path: Path, mode: int, exposed: bool) -> None:
    """Whoever reads an agency's HMAC secret can sign requests as that agency: a file that other users may read (or
    its group change) is refused at load, check-config and reload alike; a group may read it."""
    secret = tmp_path / "g22.key"
    secret.write_text(SECRET + "\n")
    secret.chmod(mode)
    config = setup(tmp_path, agency("G22", token=None, hmac_secret_file="g22.key"))
    if not exposed:
        assert "000.00.00.G22" in {a.code.canonical for a in load(config).registry}
        return
    error = refused(config)
    assert error.key == "agency[1] (G22).hmac_secret_file"
    assert error.problem == (f"{secret} is open to other users of this machine (mode {mode:04o}): make it readable "
                             f"by axisd only (chmod 600 {secret}, or 640 for axisd's group)")
    assert SECRET not in str(error)


@pytest.mark.parametrize("url", ["ftp://h.example/inbox?token=QUERY-TOKEN-0123", "http://h.example:99999/in?key=QUERY-TOKEN-0123",
                                 "http://h.example/in box?token=QUERY-TOKEN-0123", "http:///inbox#QUERY-TOKEN-0123"])
def test_a_refused_url_is_shown_without_its_query(tmp_path: Path, url: str) -> None:
    """A receiver may keep a token in the query (the ledgers and logs never write it): a refused push_url or route
    url was echoed whole, into check-config's output, the reload log, reload-status.json and the audit log."""
    for text, csv_text in ((agency("H41", delivery="push", push_url=url), None),
                           ("[[route]]\nname = \"n\"\nprefixes = [\"G\"]\nurl = \"%s\"\n" % url, None),
                           ("", f"code,name,delivery,push_url\nH41,a,push,{url}\n")):
        error = refused(setup(tmp_path, text, csv_text))
        assert error.key.endswith("url") and "QUERY-TOKEN-0123" not in str(error), str(error)


# -- CSV directories


def test_a_csv_directory(tmp_path: Path) -> None:
    text = ("\ufeffcode,name,parent,delivery,push_url,token_sha256,hmac_secret_env,signature\r\n"
            f"000.00.00.H41,UBND tỉnh,,,,{TOKEN_A},,\r\n"
            "H41.01,\"Sở A, B và C\",,push,http://10.0.0.1/inbox,,,require\r\n"
            "\r\n"
            "000.05.00.H41,Huyện thử,000.00.00.H41,pull,,,,legacy\r\n")
    config = load(setup(tmp_path, "", text))
    registry = config.registry
    assert registry.summary() == {"agencies": 3, "pull": 2, "push": 1, "routes": 0}
    h41, sub, district = registry.get("H41"), registry.get("000.00.01.H41"), registry.get("H41.00.05")
    assert h41 is not None and h41.credentials.token_sha256 == bytes.fromhex(TOKEN_A)
    assert sub == Agency(code=parse_strict("H41.01"), name="Sở A, B và C", parent="000.00.00.H41",
                         delivery=DeliveryMode.PUSH, push_url="http://10.0.0.1/inbox",
                         signature_policy=SignaturePolicy.REQUIRE)
    assert district is not None and district.parent == "000.00.00.H41"


def test_csv_rows_without_credentials_are_allowed(tmp_path: Path) -> None:
    """A national directory: reachable here (a pull mailbox) but nobody can log in as them yet."""
    config = load(setup(tmp_path, "", "name,code\nBộ Nội vụ,G09\n"))
    found = config.registry.get("000.00.00.G09")
    assert found is not None and not found.credentials and found.delivery is DeliveryMode.PULL


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("code,name,colour\nH41,x,red\n", "line 1, colour", "unknown column"),
    ("code,name,code\n", "line 1, code", "given twice"),
    ("code,parent\nH41,\n", "line 1, name", "required column missing"),
    ("", "", "empty"),
    ("code,name\nH41,a\nH42\n", "line 3", "1 fields where the header has 2"),
    ("code,name\nH41,a\n\nh42,b\n", "line 4, code", "uppercase"),
    ("code,name\nH41, \n", "line 2, name", "must not be empty"),
    ("code,name,delivery\nH41,a,push\n", "line 2, push_url", 'required when delivery = "push"'),
    ("code,name,push_url\nH41,a,http://h/\n", "line 2, push_url", 'only for delivery = "push"'),
    ("code,name,delivery,push_url\nH41,a,push,h/inbox\n", "line 2, push_url", "http:// or https://"),
    ("code,name,delivery\nH41,a,Pull\n", "line 2, delivery", 'expected "pull" or "push"'),
    ("code,name,signature\nH41,a,none\n", "line 2, signature", 'expected "require" or "legacy"'),
    ("code,name,parent\nH41.01,a,H99.00\n", "line 2, parent", "all-zero group"),
    ("code,name,token_sha256\nH41,a,xyz\n", "line 2, token_sha256", "64 hexadecimal digits"),
    ("code,name,hmac_secret_env\nH41,a,AXIS_TEST_UNSET_VARIABLE\n", "line 2, hmac_secret_env", "is not set"),
    ("code,name\nH41,a\n\"H42,b\n", "line 3", "not valid CSV"),
    ("code,name\nH41,a\nG23,b\n000.00.00.H41,c\n", "line 4, code",
     "000.00.00.H41 is already registered at {dir}/dir.csv: line 2"),
    (f"code,name,token_sha256\nH41,a,{TOKEN_C}\nH42,b,{TOKEN_C.upper()}\n", "line 3, token_sha256",
     "already used at {dir}/dir.csv: line 2"),
    ("code,name\nG22,a\n", "line 2, code", "000.00.00.G22 is already registered at {dir}/agencies.toml: agency[1] (G22)"),
    ("code,name,hmac_secret_env\nH41,a,AXIS_TEST_SECRET\nH42,b,AXIS_TEST_SECRET\n", "line 3, hmac_secret_env",
     "the same HMAC secret is already used at {dir}/dir.csv: line 2"),
    ("code,name,hmac_secret_env\nH41,a,AXIS_TEST_SECRET_TOO\n", "line 2, hmac_secret_env",
     "the same HMAC secret is already used at {dir}/agencies.toml: agency[1] (G22)"),
])
def test_csv_errors_name_the_line_and_column(tmp_path: Path, text: str, key: str, fragment: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXIS_TEST_SECRET", SECRET)
    monkeypatch.setenv("AXIS_TEST_SECRET_TOO", "another-secret-held-by-g22")
    (tmp_path / "g22.key").write_text("another-secret-held-by-g22")
    error = refused(setup(tmp_path, agency("G22", TOKEN_A, hmac_secret_file="g22.key"), text))
    assert error.path == tmp_path / "dir.csv"
    assert error.key == key
    assert fragment.format(dir=tmp_path) in error.problem
    assert str(error).startswith(f"{tmp_path / 'dir.csv'}: {key}")


def test_csv_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    config = setup(tmp_path, "", "")
    (tmp_path / "dir.csv").write_bytes("code,name\nH41,Nghệ An\nH42,".encode() + "Hà Tĩnh".encode("utf-16-le") + b"\n")
    error = refused(config)
    assert error.key == "line 3" and "not valid UTF-8" in error.problem


# -- the quick paths give the same answers as the general ones


CODES = st.one_of(
    st.tuples(st.sampled_from("GHKA"), st.integers(1, 99), st.integers(0, 99), st.integers(0, 99), st.integers(0, 999))
    .map(lambda t: f"{t[4]:03d}.{t[3]:02d}.{t[2]:02d}.{t[0]}{t[1]:02d}"),
    st.tuples(st.sampled_from("GHKA"), st.integers(1, 99),
              st.lists(st.from_regex(r"[0-9A-Z]{2,3}", fullmatch=True), max_size=3))
    .map(lambda t: ".".join((f"{t[0]}{t[1]:02d}", *t[2]))),
)


@given(CODES)
def test_forms_agree_with_agencycode(text: str) -> None:
    try:
        code = parse_strict(text)
    except Exception:  # noqa: BLE001 - e.g. a QĐ 20 code ending with a zero group
        return
    key, other, parent = _forms(code)
    assert key == code.canonical
    assert {key, other, code.text} == set(code.equivalents())
    up = code.parent()
    assert parent == (None if up is None else up.canonical)


def test_csv_agencies_equal_constructed_ones(tmp_path: Path) -> None:
    config = load(setup(tmp_path, "", f"code,name,token_sha256\nH41.01,a,{TOKEN_A}\n"))
    made = Agency(code=parse_strict("H41.01"), name="a", parent="000.00.00.H41",
                  credentials=Credentials(token_sha256=bytes.fromhex(TOKEN_A)))
    found = config.registry.get("H41.01")
    assert found == made and hash(found) == hash(made) and repr(found) == repr(made)
    assert type(found) is Agency and type(found.credentials) is Credentials  # type: ignore[union-attr]


# -- national scale


def test_national_scale(tmp_path: Path) -> None:
    codes = national_directory(tmp_path / "national.csv")
    assert len(codes) == 111_339
    config_path = tmp_path / "axisd.toml"
    config_path.write_text('[axis]\ncode = "000.00.99.H41"\n[registry]\ndirectories = ["national.csv"]\n')

    config = load(config_path)  # how fast: bench/bench_registry.py (the target is under 3 s)

    assert isinstance(config, AxisConfig) and len(config.registry) == 111_339
    h41 = config.registry.get("000.00.00.H41")
    assert h41 is not None and config.registry.get("H41") is h41
    for code in (codes[1000], codes[1001], codes[-1], codes[-2]):
        found = config.registry.get(code)
        assert found is not None and found.code.text == code
        other = parse_strict(code)
        for form in other.equivalents():
            assert config.registry.get(form) is found
    assert config.registry.by_token_sha256(hashlib.sha256(b"token-1001").digest()) is config.registry.get(codes[1001])


def test_an_agency_names_its_working_calendar(tmp_path: Path) -> None:
    config = setup(tmp_path, agency("H41", calendar="mot-cua") + agency("G22", token=sha("b")))
    config.write_text(config.read_text() + '[deadlines.calendars.mot-cua]\ndays = ["sat"]\n', encoding="utf-8")
    loaded = load(config)
    h41, g22 = loaded.registry.get("H41"), loaded.registry.get("G22")
    assert h41 is not None and h41.calendar == "mot-cua" and g22 is not None and g22.calendar is None
    assert loaded.deadlines.calendar_for(loaded.registry, "000.00.00.H41").days == {5}
    assert loaded.deadlines.calendar_for(loaded.registry, "G22") is loaded.deadlines.default
    assert loaded.deadlines.calendar_for(loaded.registry, "000.00.00.G17") is loaded.deadlines.default  # not here


def test_an_unknown_calendar_is_refused_with_the_names_known(tmp_path: Path) -> None:
    err = refused(setup(tmp_path, agency("H41", calendar="weekend")))
    assert err.key == "agency[1] (H41).calendar" and "no [deadlines.calendars.weekend]" in err.problem


def test_a_vxp_system_id_needs_the_hmac_secret_and_is_unique(tmp_path: Path) -> None:
    secret = tmp_path / "h41.hmac"
    secret.write_text("a-secret-of-at-least-16-bytes")
    secret.chmod(0o600)
    other = tmp_path / "g22.hmac"
    other.write_text("another-secret-of-at-least-16-bytes")
    err = refused(setup(tmp_path, agency("H41", vxp_system_id="vxp.saas.03")))
    assert err.key == "agency[1] (H41).vxp_system_id" and "hmac_secret_file" in err.problem
    both = (agency("H41", token=None, vxp_system_id="vxp.saas.03", hmac_secret_file=str(secret)) +
            agency("G22", token=None, vxp_system_id="vxp.saas.03", hmac_secret_file=str(other)))
    err = refused(setup(tmp_path, both))
    assert err.key == "agency[2] (G22).vxp_system_id" and "already used" in err.problem
    loaded = load(setup(tmp_path, agency("H41", token=None, vxp_system_id="vxp.saas.03", hmac_secret_file=str(secret))))
    found = loaded.registry.by_vxp_system_id("vxp.saas.03")
    assert found is not None and found.key == "000.00.00.H41" and loaded.registry.by_vxp_system_id("x") is None


def test_federation_routes_up_and_down(tmp_path: Path) -> None:
    """A ``vxp`` route names an upstream axis (forwarded to, polled); a ``pull`` route a lower axis, which logs
    in on the VXP door with its system id and takes what is for the codes behind it."""
    (tmp_path / "s.key").write_text(SECRET)
    (tmp_path / "t.key").write_text(SECRET[::-1])
    routes = """
[[route]]
name = "national"
prefixes = ["*"]
delivery = "vxp"
url = "http://127.0.0.1:9/vxp"
vxp_system_id = "axis.h40"
hmac_secret_file = "s.key"

[[route]]
name = "nghe-an"
prefixes = ["H41"]
delivery = "pull"
vxp_system_id = "axis.h41"
hmac_secret_file = "t.key"
signature = "require"
"""
    registry = load(setup(tmp_path, agency("H40") + routes)).registry
    national, nghe_an = registry.routes
    assert (national.delivery.value, national.url, national.vxp_system_id) == ("vxp", "http://127.0.0.1:9/vxp",
                                                                               "axis.h40")
    assert (nghe_an.delivery.value, nghe_an.url, nghe_an.signature_policy) == ("pull", None, SignaturePolicy.REQUIRE)
    assert registry.by_vxp_system_id("axis.h41") is nghe_an
    assert registry.by_vxp_system_id("axis.h40") is None  # our own id upstream logs nobody in here
    assert registry.principal(nghe_an.key) is nghe_an and registry.principal("route:nope") is None
    assert registry.principal(_forms(parse_strict("H40"))[0]) is registry.get("H40")
    down, up = registry.destination("000.00.07.H41"), registry.destination("000.00.00.G22")
    assert down is not None and (down.mode, down.route) == (DeliveryMode.PEER, nghe_an)
    assert up is not None and (up.mode, up.route) == (DeliveryMode.UPSTREAM, national)
    assert SECRET not in repr(registry.routes)


# -- certificate files are read at load, as axisd reads them at start (check-config passed what axisd refused)


@pytest.fixture(scope="module")
def good_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from axis.signature import pki
    directory = tmp_path_factory.mktemp("pin")
    return pki.write(pki.issue(pki.create_ca("test CA", key_kind="ec"), "000.00.00.H41", key_kind="ec"), directory,
                     "h41")[1]


@pytest.mark.parametrize(("where", "key"), [
    ("agency", "agency[1] (H41).certificates"),
    ("trust_ca", "signatures.trust_ca"),
    ("pins", "signatures.pins.000.00.00.H41"),
])
def test_a_certificate_file_that_is_not_pem_is_refused_naming_the_key(tmp_path: Path, good_pem: Path, where: str,
                                                                       key: str) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    config = setup(tmp_path, agency("H41", certificates='["junk.pem"]' if where == "agency" else f'["{good_pem}"]'))
    if where == "trust_ca":
        config.write_text(config.read_text().replace("[signatures]\n", '[signatures]\ntrust_ca = ["junk.pem"]\n'))
    elif where == "pins":
        config.write_text(config.read_text() + '[signatures.pins]\n"000.00.00.H41" = ["junk.pem"]\n')
    error = refused(config)
    assert error.key == key and "holds no PEM certificate" in error.problem
    assert error.path == (tmp_path / "agencies.toml" if where == "agency" else config)


def test_a_missing_trust_file_names_its_key(tmp_path: Path) -> None:
    config = setup(tmp_path, agency("H41"))
    config.write_text(config.read_text() + '[signatures.pins]\n"H41" = ["gone.pem"]\n')
    error = refused(config)
    assert error.key == "signatures.pins.H41" and "does not exist" in error.problem


# -- [signatures.pins] names agencies as [[agency]] does: either grammar, one agency once


@pytest.fixture(scope="module")
def two_pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from axis.signature import pki
    directory = tmp_path_factory.mktemp("pins")
    ca = pki.create_ca("test CA", key_kind="ec")
    return (pki.write(pki.issue(ca, "000.00.00.H41", key_kind="ec"), directory, "a")[1],
            pki.write(pki.issue(ca, "000.00.00.H41", key_kind="ec"), directory, "b")[1])


def test_a_pin_in_the_other_grammar_adds_to_the_agencys_own_certificates(tmp_path: Path,
                                                                        two_pems: tuple[Path, Path]) -> None:
    """A pin written "H41" and the certificates of [[agency]] 000.00.00.H41 are one agency's: both are pinned (one
    set silently replaced the other, and packages signed with the lost certificate were refused)."""
    from axis.app import build_policy
    from axis.signature.trust import fingerprint, load_pem_certificates
    a, b = two_pems
    config = setup(tmp_path, agency("000.00.00.H41", certificates=f'["{b}"]'))
    config.write_text(config.read_text() + f'[signatures.pins]\n"H41" = ["{a}"]\n')
    trust = build_policy(load(config)).checker.trust
    expected = {fingerprint(load_pem_certificates(p)[0]) for p in (a, b)}
    assert trust.pins_for("H41") == trust.pins_for("000.00.00.H41") == expected


@pytest.mark.parametrize(("pins", "key", "fragment"), [
    ('"h41" = ["{a}"]\n', "signatures.pins.h41", "uppercase"),
    ('"H41 " = ["{a}"]\n', "signatures.pins.H41 ", "whitespace"),
    ('"vxp.saas.03" = ["{a}"]\n', "signatures.pins.vxp.saas.03", "not for registration"),
    ('"H41" = ["{a}"]\n"000.00.00.H41" = ["{b}"]\n', "signatures.pins.000.00.00.H41",
     "the same agency as signatures.pins.H41"),
])
def test_a_pin_for_a_code_that_names_no_agency_is_refused(tmp_path: Path, two_pems: tuple[Path, Path], pins: str,
                                                          key: str, fragment: str) -> None:
    """A pin under a code no package can carry was never applied: the agency's signatures went by the CAs."""
    a, b = two_pems
    config = setup(tmp_path, agency("H41"))
    config.write_text(config.read_text() + "[signatures.pins]\n" + pins.format(a=a, b=b))
    error = refused(config)
    assert error.path == config and error.key == key and fragment in error.problem


# -- parents: a parent given is a registered agency, and no agency is above itself


def test_a_parent_given_must_be_registered_somewhere(tmp_path: Path) -> None:
    """It decides what an agency may see (GET /v1/stats covers the agencies under it): a typo went unnoticed."""
    error = refused(setup(tmp_path, agency("H41") + agency("H41.01", TOKEN_B, parent="H14")))
    assert (error.path, error.key) == (tmp_path / "agencies.toml", "agency[2] (H41.01).parent")
    assert error.problem.startswith("000.00.00.H14 is not registered")
    error = refused(setup(tmp_path, "", "code,name,parent\nH41,a,\nH41.01,b,G22\n"))
    assert (error.path, error.key) == (tmp_path / "dir.csv", "line 3, parent")
    assert error.problem.startswith("000.00.00.G22 is not registered")
    # registered in a later file, in either grammar: fine
    loaded = load(setup(tmp_path, agency("H41.01", parent="000.00.00.G22"), "code,name\nG22,x\n"))
    assert loaded.registry.get("H41.01").parent == "000.00.00.G22"  # type: ignore[union-attr]


def test_a_cycle_of_parents_is_refused(tmp_path: Path) -> None:
    """With H41 under H41.01 (and H41.01 under H41 by its code) each saw the other's statistics."""
    error = refused(setup(tmp_path, agency("H41", parent="H41.01") + agency("H41.01", TOKEN_B)))
    assert error.key == "agency[1] (H41).parent"
    assert "000.00.00.H41 -> 000.00.01.H41 -> 000.00.00.H41" in error.problem
    error = refused(setup(tmp_path, "", "code,name,parent\nG22,a,G23\nG23,b,G24\nG24,c,G22\n"))
    assert error.key == "line 2, parent" and "000.00.00.G22 -> 000.00.00.G23 -> 000.00.00.G24 -> 000.00.00.G22" \
        in error.problem
