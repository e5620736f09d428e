"""Signed acceptance receipts: real keys (EC, RSA, Ed25519), real signatures, every refusal typed."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import os
import stat
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from axis.cli import axisctl
from axis.errors import AxisError, Code
from axis.receipt import (
    Receipt,
    ReceiptSigner,
    extract_signed,
    load_certificate,
    load_or_create_identity,
    signing_bytes,
    verify_receipt,
)
from axis.signature import pki
from axis.signature.trust import AGENCY_CODE_ATTRIBUTE
from axis.vntime import iso
from axis.vntime import now as vn_now

AXIS_CODE = "000.00.00.A00"
PACKAGE = "<edXML>một gói tin</edXML>".encode()

RECEIPT = Receipt(
    message_id="01JD7W3K9V0000000000000000",
    sha256=hashlib.sha256(PACKAGE).hexdigest(),
    size=len(PACKAGE),
    accepted_at="2026-11-22T09:15:03.120+07:00",
    sender="000.00.00.G22",
    kind="edoc",
    document_id="123/QĐ-VPCP",
    recipients=("000.00.00.H41", "000.00.00.H42"),
    axis=AXIS_CODE,
)


def ed25519_issued(code: str = AXIS_CODE) -> pki.Issued:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "axis Ed25519"),
                      x509.NameAttribute(AGENCY_CODE_ATTRIBUTE, code)])
    start = vn_now() - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=30)).sign(key, None))
    return pki.Issued(key=key, cert=cert)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.create_ca("axis receipt tests CA", key_kind="ec")


@pytest.fixture(scope="module")
def identities(ca: pki.Issued) -> dict[str, pki.Issued]:
    return {
        "ES256": pki.issue(ca, AXIS_CODE, "Trục liên thông", key_kind="ec"),
        "RS256": pki.issue(ca, AXIS_CODE, "Trục liên thông"),
        "EdDSA": ed25519_issued(),
    }


@pytest.fixture(scope="module")
def signer(identities: dict[str, pki.Issued]) -> ReceiptSigner:
    ident = identities["ES256"]
    return ReceiptSigner(ident.key, ident.cert)


def refused(code: Code, call: Callable[[], Any]) -> AxisError:
    with pytest.raises(AxisError) as info:
        call()
    assert info.value.code is code, info.value
    return info.value


# ----------------------------------------------------------------------------- the receipt and its bytes


def test_signing_bytes_are_canonical_json() -> None:
    assert signing_bytes({"b": 1, "a": ["Hà Nội", None]}) == '{"a":["Hà Nội",null],"b":1}'.encode()
    body = RECEIPT.to_dict()
    assert list(body) == ["message_id", "sha256", "size", "accepted_at", "sender", "kind", "document_id",
                          "recipients", "axis"]
    assert json.loads(signing_bytes(body)) == body
    assert signing_bytes(dict(reversed(body.items()))) == signing_bytes(body)


def test_receipt_refuses_values_no_verifier_would_accept() -> None:
    fields = RECEIPT.to_dict()
    assert Receipt(**{**fields, "recipients": ["000.00.00.H41"]}).recipients == ("000.00.00.H41",)
    assert Receipt(**{**fields, "accepted_at": iso(vn_now())}).accepted_at.endswith("+07:00")
    for name, bad in [("sha256", "AB" * 32), ("sha256", "ab"), ("size", -1), ("size", True), ("size", 1.0),
                      ("accepted_at", "2026-11-22T09:15:03"), ("accepted_at", "hôm qua"), ("kind", "document"),
                      ("recipients", ()), ("recipients", ("",)), ("message_id", ""), ("document_id", ""),
                      ("axis", None)]:
        with pytest.raises(ValueError):
            Receipt(**{**fields, name: bad})


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_round_trip(identities: dict[str, pki.Issued], alg: str) -> None:
    ident = identities[alg]
    signer = ReceiptSigner(ident.key, ident.cert)
    assert signer.key_id == hashlib.sha256(ident.cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    signed = signer.sign(RECEIPT)
    assert signed["receipt"] == RECEIPT.to_dict()
    assert signed["signature"]["alg"] == alg and signed["signature"]["key_id"] == signer.key_id
    assert verify_receipt(signed, ident.cert) == RECEIPT

    as_json = signer.sign_json(RECEIPT)
    parsed = json.loads(as_json)
    assert parsed["receipt"] == signed["receipt"] and parsed["signature"]["alg"] == alg
    assert signing_bytes(parsed) == as_json  # what the store keeps is itself canonical JSON
    assert "Đ".encode() in as_json  # UTF-8, not \u escapes
    assert verify_receipt(as_json, ident.cert) == RECEIPT
    assert verify_receipt(as_json.decode("utf-8"), ident.cert) == RECEIPT


def test_es256_value_is_jose_r_s(signer: ReceiptSigner) -> None:
    assert len(base64.b64decode(signer.sign(RECEIPT)["signature"]["value"])) == 64


def test_signer_refuses_keys_it_cannot_use(identities: dict[str, pki.Issued]) -> None:
    with pytest.raises(ValueError, match="does not match"):
        ReceiptSigner(identities["ES256"].key, identities["RS256"].cert)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="secp384r1"):
        ReceiptSigner(p384, identities["ES256"].cert)


# ----------------------------------------------------------------------------- refusals


TAMPERED = {
    "message_id": "01JD7W3K9V0000000000000001",
    "sha256": hashlib.sha256(b"other bytes").hexdigest(),
    "size": RECEIPT.size + 1,
    "accepted_at": "2026-11-22T09:15:04.120+07:00",
    "sender": "000.00.00.G23",
    "kind": "status",
    "document_id": None,
    "recipients": ["000.00.00.H41"],
    "axis": "000.00.00.A01",
}


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
@pytest.mark.parametrize("field", sorted(TAMPERED))
def test_tampering_any_field_breaks_the_signature(identities: dict[str, pki.Issued], alg: str, field: str) -> None:
    ident = identities[alg]
    signed = ReceiptSigner(ident.key, ident.cert).sign(RECEIPT)
    assert signed["receipt"][field] != TAMPERED[field]
    signed["receipt"][field] = TAMPERED[field]
    refused(Code.RECEIPT_BAD_SIGNATURE, lambda: verify_receipt(signed, ident.cert))


def test_tampering_the_signature_breaks_it(identities: dict[str, pki.Issued], signer: ReceiptSigner) -> None:
    cert = identities["ES256"].cert
    signed = signer.sign(RECEIPT)

    flipped = copy.deepcopy(signed)
    raw = bytearray(base64.b64decode(flipped["signature"]["value"]))
    raw[5] ^= 1
    flipped["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    refused(Code.RECEIPT_BAD_SIGNATURE, lambda: verify_receipt(flipped, cert))

    short = copy.deepcopy(signed)
    short["signature"]["value"] = base64.b64encode(bytes(raw[:63])).decode()
    refused(Code.RECEIPT_BAD_SIGNATURE, lambda: verify_receipt(short, cert))

    other_alg = copy.deepcopy(signed)
    other_alg["signature"]["alg"] = "RS256"
    refused(Code.RECEIPT_BAD_SIGNATURE, lambda: verify_receipt(other_alg, cert))

    # a forger who names axis's key but signs with their own
    forger = pki.issue(pki.create_ca(key_kind="ec"), AXIS_CODE, key_kind="ec")
    forged = ReceiptSigner(forger.key, forger.cert).sign(RECEIPT)
    forged["signature"]["key_id"] = signer.key_id
    refused(Code.RECEIPT_BAD_SIGNATURE, lambda: verify_receipt(forged, cert))


def test_another_certificate_is_the_wrong_key(identities: dict[str, pki.Issued], signer: ReceiptSigner,
                                              ca: pki.Issued) -> None:
    signed = signer.sign(RECEIPT)
    for other in (identities["RS256"].cert, identities["EdDSA"].cert, ca.cert,
                  pki.issue(ca, AXIS_CODE, key_kind="ec").cert):  # same CA, same code, another key
        err = refused(Code.RECEIPT_WRONG_KEY, lambda: verify_receipt(signed, other))
        assert signer.key_id in err.problem.detail
    renamed = copy.deepcopy(signed)
    renamed["signature"]["key_id"] = "0" * 64
    refused(Code.RECEIPT_WRONG_KEY, lambda: verify_receipt(renamed, identities["ES256"].cert))


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _delete(path: tuple[str, ...]) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


MALFORMED_CHANGES: dict[str, Callable[[dict], None]] = {
    "no receipt": _delete(("receipt",)),
    "no signature": _delete(("signature",)),
    "extra top-level field": _set(("note",), "x"),
    "signature is a string": _set(("signature",), "abc"),
    "receipt is a list": _set(("receipt",), []),
    "no alg": _delete(("signature", "alg")),
    "unknown alg": _set(("signature", "alg"), "none"),
    "alg is a number": _set(("signature", "alg"), 1),
    "key_id is null": _set(("signature", "key_id"), None),
    "value not base64": _set(("signature", "value"), "***"),
    "value not ascii": _set(("signature", "value"), "chữ ký"),
    "extra signature field": _set(("signature", "x5c"), []),
    "missing receipt field": _delete(("receipt", "sha256")),
    "unknown receipt field": _set(("receipt", "priority"), 1),
    "size is a string": _set(("receipt", "size"), "26"),
    "size is a float": _set(("receipt", "size"), 26.0),
    "size is a boolean": _set(("receipt", "size"), True),
    "size is negative": _set(("receipt", "size"), -1),
    "sha256 upper case": _set(("receipt", "sha256"), "A" * 64),
    "sha256 too short": _set(("receipt", "sha256"), "a" * 63),
    "time without offset": _set(("receipt", "accepted_at"), "2026-11-22T09:15:03.120"),
    "time not a time": _set(("receipt", "accepted_at"), "22/11/2026"),
    "unknown kind": _set(("receipt", "kind"), "document"),
    "document_id is a number": _set(("receipt", "document_id"), 123),
    "recipients empty": _set(("receipt", "recipients"), []),
    "recipients a string": _set(("receipt", "recipients"), "000.00.00.H41"),
    "recipient a number": _set(("receipt", "recipients"), [1]),
    "sender empty": _set(("receipt", "sender"), ""),
}


@pytest.mark.parametrize("change", list(MALFORMED_CHANGES), ids=list(MALFORMED_CHANGES))
def test_malformed_shapes(identities: dict[str, pki.Issued], signer: ReceiptSigner, change: str) -> None:
    signed = signer.sign(RECEIPT)
    MALFORMED_CHANGES[change](signed)
    refused(Code.RECEIPT_MALFORMED, lambda: verify_receipt(signed, identities["ES256"].cert))
    refused(Code.RECEIPT_MALFORMED, lambda: verify_receipt(json.dumps(signed), identities["ES256"].cert))


@pytest.mark.parametrize("text", [
    b"", b"not json", b"\xff\xfe{}", b"[]", b"null", b"42", b'"receipt"', b"[" * 100_000,
    b'{"receipt": {}, "signature": {}, "receipt": {}}',  # duplicate keys: two readers, two receipts
], ids=["empty", "not-json", "not-utf8", "list", "null", "number", "string", "deep", "duplicate-keys"])
def test_malformed_documents(identities: dict[str, pki.Issued], text: bytes) -> None:
    refused(Code.RECEIPT_MALFORMED, lambda: verify_receipt(text, identities["ES256"].cert))


def test_lone_surrogate_is_malformed(identities: dict[str, pki.Issued], signer: ReceiptSigner) -> None:
    text = signer.sign_json(RECEIPT).replace(b'"000.00.00.G22"', b'"\\ud800"')
    refused(Code.RECEIPT_MALFORMED, lambda: verify_receipt(text, identities["ES256"].cert))


def test_not_a_document_at_all(identities: dict[str, pki.Issued]) -> None:
    refused(Code.RECEIPT_MALFORMED, lambda: verify_receipt(42, identities["ES256"].cert))  # type: ignore[arg-type]


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=5)


@given(where=st.sampled_from([("receipt",), ("signature",), *[("receipt", k) for k in TAMPERED],
                              *[("signature", k) for k in ("alg", "key_id", "value")]]),
       value=JSON_VALUES)
def test_any_substitution_is_refused_with_a_receipt_code(identities: dict[str, pki.Issued], signer: ReceiptSigner,
                                                         where: tuple[str, ...], value: Any) -> None:
    signed = signer.sign(RECEIPT)
    _set(where, value)(signed)
    try:
        verify_receipt(json.dumps(signed), identities["ES256"].cert)
    except AxisError as exc:
        assert exc.code.code.startswith("receipt.")
    else:
        assert signer.sign(RECEIPT) == signed  # only an unchanged receipt verifies


def test_extract_signed_unwraps_the_submit_answer(signer: ReceiptSigner) -> None:
    signed = signer.sign(RECEIPT)
    answer = {"message_id": RECEIPT.message_id, "acceptable": True, "receipt": signed}
    assert extract_signed(json.dumps(answer)) == signed
    assert extract_signed(signed) == signed
    answer["message_id"] = "someone else's"
    refused(Code.RECEIPT_MALFORMED, lambda: extract_signed(answer))


# ----------------------------------------------------------------------------- axis's identity


def test_identity_is_created_privately_then_reloaded(tmp_path: Path) -> None:
    key_path, cert_path = tmp_path / "keys" / "receipt.key", tmp_path / "keys" / "receipt.pem"
    first = load_or_create_identity(key_path, cert_path, AXIS_CODE, "Trục liên thông văn bản quốc gia")
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["receipt.key", "receipt.pem"]  # no temp files left
    cert = load_certificate(cert_path)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Trục liên thông văn bản quốc gia"
    assert cert.subject.get_attributes_for_oid(AGENCY_CODE_ATTRIBUTE)[0].value == AXIS_CODE
    assert cert.issuer == cert.subject
    assert timedelta(days=3649) < cert.not_valid_after_utc - cert.not_valid_before_utc < timedelta(days=3651)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and first.alg == "ES256"

    key_before, cert_before = key_path.read_bytes(), cert_path.read_bytes()
    second = load_or_create_identity(key_path, cert_path, AXIS_CODE, "Trục liên thông văn bản quốc gia")
    assert second.key_id == first.key_id
    assert (key_path.read_bytes(), cert_path.read_bytes()) == (key_before, cert_before)
    assert verify_receipt(first.sign_json(RECEIPT), second.certificate) == RECEIPT
    assert verify_receipt(second.sign_json(RECEIPT), cert) == RECEIPT


def test_an_identity_key_open_to_other_users_is_refused(tmp_path: Path) -> None:
    """The key under data_dir is axis's as much as a configured one: whoever reads it signs receipts as axis."""
    key_path, cert_path = tmp_path / "axis-key.pem", tmp_path / "axis-cert.pem"
    load_or_create_identity(key_path, cert_path, AXIS_CODE, "axis")
    key_path.chmod(0o644)  # chmod -R 755 var/, say
    with pytest.raises(ValueError, match=r"receipt identity: .*axis-key.pem is open to other users of this machine "
                                         r"\(mode 0644\)"):
        load_or_create_identity(key_path, cert_path, AXIS_CODE, "axis")
    key_path.chmod(0o640)
    assert load_or_create_identity(key_path, cert_path, AXIS_CODE, "axis").key_id


def test_identity_uses_an_operators_rsa_key(tmp_path: Path, identities: dict[str, pki.Issued]) -> None:
    key_path, cert_path = pki.write(identities["RS256"], tmp_path, "axis")
    loaded = load_or_create_identity(key_path, cert_path, AXIS_CODE, "axis")
    assert loaded.alg == "RS256" and loaded.key_id == ReceiptSigner(identities["RS256"].key,
                                                                     identities["RS256"].cert).key_id


def test_long_names_fit_a_certificate(tmp_path: Path) -> None:
    name = "Trung tâm Công nghệ thông tin và Giám sát an ninh mạng, Văn phòng Chính phủ (trục quốc gia)"
    assert len(name.encode()) > 64
    signer = load_or_create_identity(tmp_path / "k", tmp_path / "c", AXIS_CODE, name)
    common_name = signer.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(common_name, str) and name.startswith(common_name) and 60 <= len(common_name.encode()) <= 64


@pytest.mark.parametrize("present", ["key", "cert"])
def test_identity_refuses_half_an_identity(tmp_path: Path, present: str) -> None:
    load_or_create_identity(tmp_path / "a.key", tmp_path / "a.pem", AXIS_CODE, "axis")
    key_path, cert_path = tmp_path / "b.key", tmp_path / "b.pem"
    kept = (key_path if present == "key" else cert_path)
    kept.write_bytes((tmp_path / ("a.key" if present == "key" else "a.pem")).read_bytes())
    with pytest.raises(ValueError, match="does not"):
        load_or_create_identity(key_path, cert_path, AXIS_CODE, "axis")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.key", "a.pem", kept.name])


def test_load_certificate_says_which_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="bad.pem"):
        load_certificate(bad)


# ----------------------------------------------------------------------------- axisctl verify-receipt


@pytest.fixture
def files(tmp_path: Path, identities: dict[str, pki.Issued], signer: ReceiptSigner) -> dict[str, Path]:
    out = {"cert": tmp_path / "axis.pem", "receipt": tmp_path / "receipt.json", "package": tmp_path / "p.edxml"}
    out["cert"].write_bytes(identities["ES256"].cert_pem)
    out["receipt"].write_bytes(signer.sign_json(RECEIPT))
    out["package"].write_bytes(PACKAGE)
    return out


def axisctl_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = axisctl.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out


def test_cli_ok(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = axisctl_main(capsys, "verify-receipt", files["receipt"], "--cert", files["cert"],
                             "--file", files["package"])
    assert code == 0
    assert out == (f"receipt OK: {RECEIPT.message_id} {RECEIPT.sha256} accepted {RECEIPT.accepted_at} "
                   f"by {AXIS_CODE} for 000.00.00.H41,000.00.00.H42\n")


def test_cli_reads_the_submit_answer_on_stdin(files: dict[str, Path], signer: ReceiptSigner,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    answer = {"message_id": RECEIPT.message_id, "receipt": signer.sign(RECEIPT)}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(answer).encode())))
    code, out = axisctl_main(capsys, "verify-receipt", "-", "--cert", files["cert"])
    assert code == 0 and out.startswith(f"receipt OK: {RECEIPT.message_id} ")


def test_cli_tampered(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    text = files["receipt"].read_bytes()
    files["receipt"].write_bytes(text.replace(b'"000.00.00.H42"', b'"000.00.00.H43"'))
    code, out = axisctl_main(capsys, "verify-receipt", files["receipt"], "--cert", files["cert"])
    assert code == 1
    assert out.startswith("receipt REFUSED: receipt.bad-signature: ") and out.count("\n") == 1


def test_cli_wrong_certificate(files: dict[str, Path], identities: dict[str, pki.Issued],
                               capsys: pytest.CaptureFixture[str]) -> None:
    files["cert"].write_bytes(identities["EdDSA"].cert_pem)
    code, out = axisctl_main(capsys, "verify-receipt", files["receipt"], "--cert", files["cert"])
    assert code == 1 and out.startswith("receipt REFUSED: receipt.wrong-key: ")


def test_cli_file_mismatch(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files["package"].write_bytes(PACKAGE + b"\n")
    code, out = axisctl_main(capsys, "verify-receipt", files["receipt"], "--cert", files["cert"],
                             "--file", files["package"])
    assert code == 1 and out.startswith("receipt REFUSED: receipt.package-mismatch: ")
    same_size = PACKAGE[:-1] + b"!"
    files["package"].write_bytes(same_size)
    code, out = axisctl_main(capsys, "verify-receipt", files["receipt"], "--cert", files["cert"],
                             "--file", files["package"])
    assert code == 1 and "receipt.package-mismatch" in out


def test_cli_malformed_and_missing_files(files: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    files["receipt"].write_bytes(b"{}")
    code, out = axisctl_main(capsys, "verify-receipt", files["receipt"], "--cert", files["cert"])
    assert code == 1 and out.startswith("receipt REFUSED: receipt.malformed: ")
    assert axisctl.main(["verify-receipt", str(files["receipt"]), "--cert", str(tmp_path / "none.pem")]) == 1
    assert capsys.readouterr().err.startswith("axisctl: ")
