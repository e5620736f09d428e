"""The SDKVXP header signature against the captures of the real SDK (vxp-protocol.md §2, Appendix A and B)."""

from __future__ import annotations

import hashlib

import pytest

from axis.errors import AxisError
from axis.vxp.signing import (
    check_signed,
    client_headers,
    java_hashmap_order,
    java_string_hash,
    read_signed,
    sdk_hash_file,
    sign_header,
)

SECRET = b"test-secret-not-real"
FILE_HASH = "7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb"


def sdk_map(*calls: dict[str, str], timestamp: str, content_type: str = "application/json") -> dict[str, str]:
    """The SDK's HashMap puts in order: timestamp (constructor), systemid (init), then per call Content-Type
    and the caller's keys; a key put again keeps its place."""
    values = {"timestamp": timestamp, "systemid": "vxp.test.01"}
    for call in calls:
        values["Content-Type"] = call.pop("Content-Type", content_type)
        values.update(call)
    return values


# (the map as the SDK filled it, the key list it sent, the HMAC it sent): captured from SDKVXP 2.0.1
CAPTURED = [
    (sdk_map({}, timestamp="22112026T013830+0662"), "systemid;timestamp;Content-Type",
     "142e42eb6c15b22baa7b50ba7f6de500d6befc140af4dcfc50b766d83503bfda"),
    (sdk_map({"Content-Type": "application/octet-stream", "servicetype": "eDoc", "messagetype": "edoc",
              "from": "000.00.00.H01", "to": '"000.00.00.H02"', "hash-file": FILE_HASH},
             timestamp="22112026T013825+0724"),
     "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type",
     "370c9152197591f58045cb671f7213315799d9b60edaf1829f1cd7b0c43b5fbc"),
    (sdk_map({"status": "done", "docId": "11111111-2222-3333-4444-555555555555"}, timestamp="22112026T013828+0499"),
     "systemid;docId;timestamp;Content-Type;status", "ed75f5d06fabb044d09e9c678e746783370cccbfb934d1b95bda321db8e2ec71"),
    (sdk_map({"level": "1"}, timestamp="22112026T013831+0722"), "systemid;level;timestamp;Content-Type",
     "570f6962b3fa8d662c00005d8041bb7906e2d8f98976f31885e746ccc51101cd"),
    (sdk_map({"AgencyCode": "000.00.00.H99"}, timestamp="22112026T013833+0877"),
     "systemid;AgencyCode;timestamp;Content-Type", "6075d654aa6c5dfd748b0af214750ac47d5749cf749228df46572da7a7248ceb"),
    # Appendix B: one service object after sendEdoc, getReceivedEdocList, getEdoc, updateStatus: ten keys
    (sdk_map({"Content-Type": "application/octet-stream", "from": "vxp.test.01", "servicetype": "eDoc",
              "messagetype": "edoc", "hash-file": FILE_HASH},
             {"servicetype": "eDoc", "messagetype": "edoc"},
             {"filePath": "work/xml", "docId": "11111111-2222-3333-4444-555555555555"},
             {"status": "done", "docId": "11111111-2222-3333-4444-555555555555"},
             {"servicetype": "eDoc", "messagetype": "edoc"}, timestamp="22112026T014635+0881"),
     "systemid;servicetype;messagetype;hash-file;docId;filePath;from;timestamp;Content-Type;status",
     "388010d7acac0f50a0492c8474eb251ea0ab186690ada593fd8d1fac09cb377d"),
]


@pytest.mark.parametrize(("values", "keys", "digest"), CAPTURED)
def test_our_client_signs_exactly_like_the_sdk(values: dict[str, str], keys: str, digest: str) -> None:
    signed, key_list, got = sign_header(values, SECRET)
    assert (key_list, got) == (keys, digest)
    headers = client_headers(values, SECRET)
    assert [n for n, _ in headers][-5:] == ["XroadVnpt-sign-header-key", "XroadVnpt-sign-header",
                                            "XroadVnpt-hash-header", "User-Agent", "XroadVnpt-version"]
    assert ("Content-Type", values["Content-Type"]) in headers and ("XroadVnpt-sign-header", signed) in headers


def test_java_string_hash_and_a_map_that_grows_past_twelve_keys() -> None:
    assert java_string_hash("") == 0 and java_string_hash("a") == 97
    assert java_string_hash("hello") == 99162322  # "hello".hashCode() in Java
    assert java_string_hash("polygenelubricants") == 0x80000000  # Integer.MIN_VALUE: 32-bit overflow
    keys = [f"k{n}" for n in range(13)]  # the 13th put resizes to 32 buckets: the order changes
    assert sorted(java_hashmap_order(keys)) == sorted(keys) and java_hashmap_order(keys) != keys[:13]


def test_the_sdk_hash_file_drops_leading_zeros() -> None:
    data = b"x" * 100
    full = hashlib.sha256(data).hexdigest()
    short = sdk_hash_file(data)
    assert short == "".join(format(int(full[i:i + 2], 16), "x") for i in range(0, 64, 2))
    assert sdk_hash_file(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def as_received(values: dict[str, str], secret: bytes = SECRET) -> dict[str, bytes]:
    return {name.lower(): value.encode("utf-8") for name, value in client_headers(values, secret)}


def test_the_server_reads_and_checks_what_the_sdk_sends() -> None:
    values = CAPTURED[1][0]
    headers = as_received(values)
    request, raw, claimed = read_signed(headers)
    check_signed(request, raw, claimed, SECRET, headers)
    assert request.system_id == "vxp.test.01" and request.params["to"] == '"000.00.00.H02"'


@pytest.mark.parametrize(("change", "code"), [
    (lambda h: h.pop("xroadvnpt-hash-header"), "vxp.auth-missing"),
    (lambda h: h.update({"xroadvnpt-sign-header": b"{not json"}), "vxp.auth-malformed"),
    (lambda h: h.update({"xroadvnpt-sign-header": b'{"XroadVnpt-timestamp":"1"}'}), "vxp.auth-malformed"),
    (lambda h: h.update({"xroadvnpt-sign-header": b'{"XroadVnpt-systemid":1}'}), "vxp.auth-malformed"),
    (lambda h: h.update({"xroadvnpt-hash-header": b"0" * 64}), "vxp.bad-signature"),
    (lambda h: h.update({"xroadvnpt-sign-header": h["xroadvnpt-sign-header"].replace(b"H01", b"H66")}),
     "vxp.bad-signature"),  # a tampered signed header
    (lambda h: h.update({"xroadvnpt-from": b"000.00.00.H66"}), "vxp.header-mismatch"),  # a loose one
    (lambda h: h.update({"xroadvnpt-docid": b"someone-elses"}), "vxp.header-mismatch"),  # an unsigned one
])
def test_refusals(change, code: str) -> None:  # type: ignore[no-untyped-def]
    headers = as_received(CAPTURED[1][0])
    change(headers)
    with pytest.raises(AxisError) as caught:
        request, raw, claimed = read_signed(headers)
        check_signed(request, raw, claimed, SECRET, headers)
    assert caught.value.code.code == code


def test_a_wrong_secret_is_refused() -> None:
    headers = as_received(CAPTURED[0][0], secret=b"another secret")
    request, raw, claimed = read_signed(headers)
    with pytest.raises(AxisError) as caught:
        check_signed(request, raw, claimed, SECRET, headers)
    assert caught.value.code.code == "vxp.bad-signature"
