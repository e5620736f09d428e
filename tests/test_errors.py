"""The error taxonomy: stable, unique codes with both languages; problems render with where."""

from __future__ import annotations

from axis.errors import AxisError, Code, Problem, Severity, Where


def test_codes_are_unique_namespaced_and_bilingual() -> None:
    seen = set()
    for code in Code:
        assert code.code not in seen
        seen.add(code.code)
        family, _, name = code.code.partition(".")
        assert family and name and code.code == code.code.lower()
        assert code.en and code.vi and code.en != code.vi
        assert (code.severity is Severity.WARNING) == (code.http_status < 400)


def test_problem_renders_code_message_and_where() -> None:
    p = Problem(Code.EDXML_DUPLICATE_TO, "000.00.00.H41 twice", Where(line=7, path="/edXML/x/To[2]"))
    d = p.to_dict()
    assert d == {"code": "edxml.duplicate-to", "severity": "error",
                 "message": "The same recipient is listed more than once: 000.00.00.H41 twice",
                 "message_vi": "Đơn vị nhận bị lặp lại", "where": {"line": 7, "path": "/edXML/x/To[2]"}}
    assert str(p) == "[edxml.duplicate-to] " + d["message"] + " (line 7, path /edXML/x/To[2])"
    err = AxisError.of(Code.BODY_EMPTY)
    assert err.code is Code.BODY_EMPTY and "where" not in err.problem.to_dict()
    assert Code("body.empty") is Code.BODY_EMPTY
