"""Conformance table of the ACS condition language (ACS.md section 2).

Each row is ``(expression, expected)`` evaluated against :data:`CONTEXT` (unless the row gives
its own context, facts or clock). ``RAISES`` means evaluation raises ExpressionEvaluationError.
Expected values are compared by type *and* value (``1`` is not ``1.0`` is not ``True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RAISES = object()
NOW = 1_700_000_000_000

CONTEXT: dict[str, Any] = {
    "event": {"type": "bid.create", "id": "EVT-1"},
    "ctx": {
        "userId": "USR-1",
        "userRole": "operator",
        "userKycStatus": "VERIFIED",
        "deviceId": "DEV-9",
        "payload": {"text": "call me on 98765 43210"},
    },
    "truck": {"id": "TRK-1", "status": "EXPIRED_DOCS", "tags": ["a", "b"], "axles": 3},
    "n": {"zero": 0, "one": 1, "onef": 1.0, "half": 0.5, "neg": -5, "big": 10**20},
    "s": {"empty": "", "abc": "abc"},
    "list": [10, 20, 30],
    "nested": [{"name": "x"}, {"name": "y"}],
    "flags": {"t": True, "f": False},
    "nothing": None,
    "emptyList": [],
    "emptyMap": {},
    "keys": {"k": "status", "i": 1},
    "geo": {"blr": {"lat": 12.9716, "lng": 77.5946}, "maa": {"lat": 13.0827, "lng": 80.2707}},
}


@dataclass(frozen=True)
class Case:
    expr: str
    expected: Any
    context: dict[str, Any] = field(default_factory=lambda: CONTEXT)
    facts: dict[str, Any] | None = None
    now_ms: int | None = None


def table(*rows: tuple[str, Any]) -> list[Case]:
    return [Case(expr, expected) for expr, expected in rows]


LITERALS = table(
    ("1", 1),
    ("1.5", 1.5),
    ("0.5", 0.5),
    ("1e3", 1000.0),
    ("2.5e-1", 0.25),
    ("'abc'", "abc"),
    ('"abc"', "abc"),
    ("true", True),
    ("false", False),
    ("null", None),
    ("[1, 'a', null]", [1, "a", None]),
    ("[]", []),
    ("{}", {}),
    ("{a: 1, 'b c': [true]}", {"a": 1, "b c": [True]}),
)

STRING_ESCAPES = table(
    (r"'it\'s'", "it's"),
    ('"it\'s"', "it's"),
    (r'"say \"hi\""', 'say "hi"'),
    (r"'a\nb'", "a\nb"),
    (r"'tab\tx'", "tab\tx"),
    (r"'back\\slash'", "back\\slash"),
    (r"'\u0041\u00e9'", "Aé"),
    (r"'\uD83D\uDE00'", "\U0001f600"),
    (r"'\/'", "/"),
)

PATHS = table(
    ("truck.status", "EXPIRED_DOCS"),
    ("truck['status']", "EXPIRED_DOCS"),
    ("truck[keys.k]", "EXPIRED_DOCS"),
    ("event['type']", "bid.create"),
    ("list[0]", 10),
    ("list[keys.i]", 20),
    ("list[1 + 1]", 30),
    ("list[3]", None),
    ("list[-1]", None),
    ("list['0']", None),
    ("list[0.5]", None),
    ("truck[1]", None),
    ("nested[1].name", "y"),
    ("truck.tags[1]", "b"),
    ("missing", None),
    ("missing.deep.path", None),
    ("nothing.x", None),
    ("n.one.x", None),
    ("truck.status.length", None),
    ("s.abc.length", None),
    ("list.length", None),
    ("truck.__class__", None),
    ("truck.constructor", None),
    ("s.abc.__len__", None),
    ("truck['__dict__']", None),
)

ARITHMETIC = table(
    ("1 + 2", 3),
    ("1 + 2.5", 3.5),
    ("'a' + 'b'", "ab"),
    ("s.abc + s.empty", "abc"),
    ("'a' + 1", None),
    ("1 + 'a'", None),
    ("null + 1", None),
    ("missing + 1", None),
    ("true + 1", None),
    ("[1] + [2]", None),
    ("5 - 7", -2),
    ("'a' - 'a'", None),
    ("2 * 3", 6),
    ("2 * 0.5", 1.0),
    ("7 / 2", 3.5),
    ("6 / 3", 2.0),
    ("1 / 0", None),
    ("1 / 0.0", None),
    ("7 // 2", 3),
    ("-7 // 2", -4),
    ("7.5 // 2", 3.0),
    ("7 // 0", None),
    ("7 % 3", 1),
    ("-7 % 3", -1),
    ("7 % -3", 1),
    ("5.5 % 2", 1.5),
    ("5 % 0", None),
    ("2 ^ 10", 1024),
    ("2 ^ -1", 0.5),
    ("4 ^ 0.5", 2.0),
    ("(-8) ^ 0.5", None),
    ("0 ^ -1", None),
    ("-n.neg", 5),
    ("-'a'", None),
    ("-null", None),
    ("n.big * 10", 10**21),
)

PRECEDENCE = table(
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("2 * 3 ^ 2", 18),
    ("-2 ^ 2", 4),
    ("2 ^ 3 ^ 2", 512),
    ("(2 ^ 3) ^ 2", 64),
    ("10 - 4 - 3", 3),
    ("100 / 10 / 5", 2.0),
    ("7 // 2 * 2", 6),
    ("1 + 2 == 3", True),
    ("1 < 2 == true", True),
    ("!true == false", True),
    ("!(1 == 2)", True),
    ("1 + 1 in [2]", True),
    ("'a' + 'b' in ['ab']", True),
    ("1 == 1 && 2 == 2", True),
    ("1 - -1", 2),
)

EQUALITY = table(
    ("1 == 1.0", True),
    ("1 != 1.0", False),
    ("n.one == n.onef", True),
    ("true == 1", False),
    ("1 == true", False),
    ("false == 0", False),
    ("null == null", True),
    ("nothing == null", True),
    ("missing == null", True),
    ("null == false", False),
    ("'' == null", False),
    ("'1' == 1", False),
    ("'abc' == s.abc", True),
    ("flags.t == true", True),
    ("flags.t != true", False),
    ("flags.f != true", True),
    ("[1, 2] == [1, 2]", True),
    ("[1] == [1.0]", True),
    ("[1] == [true]", False),
    ("{a: 1} == {a: 1.0}", True),
    ("{a: 1} == {a: 1, b: 2}", False),
    ("truck.tags == ['a', 'b']", True),
    ("emptyList == []", True),
    ("emptyMap == {}", True),
)

ORDERING = table(
    ("1 < 2", True),
    ("2 <= 2", True),
    ("3 > 2.5", True),
    ("2.5 >= 3", False),
    ("'a' < 'b'", True),
    ("'b' >= 'a'", True),
    ("'10' < 9", False),
    ("9 > '10'", False),
    ("null < 1", False),
    ("null >= null", False),
    ("true > false", False),
    ("1 < true", False),
    ("missing < 5", False),
    ("missing >= 0", False),
    ("[1] < [2]", False),
    ("n.neg < n.zero", True),
    ("5 > n.neg", True),
    ("truck.axles >= 3", True),
)

MEMBERSHIP = table(
    ("'a' in ['a', 'b']", True),
    ("'c' in ['a', 'b']", False),
    ("1 in [1.0, 2]", True),
    ("1.0 in [1]", True),
    ("true in [1]", False),
    ("1 in [true]", False),
    ("null in [null]", True),
    ("null in [1]", False),
    ("[1] in [[1], 2]", True),
    ("10 in list", True),
    ("10.0 in list", True),
    ("'a' in truck.tags", True),
    ("truck.status in ['EXPIRED_DOCS']", True),
    ("event.type in ['x', 'bid.create']", True),
    ("'bc' in 'abc'", True),
    ("'' in 'abc'", True),
    ("1 in 'a1'", False),
    ("'status' in truck", True),
    ("'nope' in truck", False),
    ("1 in truck", False),
    ("'a' in null", False),
    ("'a' in missing", False),
    ("'x' in 5", False),
)

LOGIC = table(
    ("true && false", False),
    ("true && 1", True),
    ("1 && 'x'", True),
    ("0 || ''", False),
    ("null || 'a'", True),
    ("[] || {}", False),
    ("[0] && {a: 1}", True),
    ("n.zero || n.half", True),
    ("!0", True),
    ("!''", True),
    ("!'a'", False),
    ("!null", True),
    ("![]", True),
    ("!!list", True),
    ("false && missing.x", False),
    ("(true || false) && false", False),
    ("true || (false && false)", True),
    ("false && 2 ^ 5000 > 1", False),
    ("true || 2 ^ 5000 > 1", True),
    ("false && db.count.trucksByOperator('X') > 1", False),
)

TERNARY = table(
    ("true ? 1 : 2", 1),
    ("0 ? 1 : 2", 2),
    ("null ? 'a' : 'b'", "b"),
    ("truck.status == 'EXPIRED_DOCS' ? 'blocked' : 'ok'", "blocked"),
    ("false ? 1 : true ? 2 : 3", 2),
    ("false ? 1 : false ? 2 : 3", 3),
    ("true ? false ? 1 : 2 : 3", 2),
    ("(true ? 1 : 2) + 1", 2),
    ("list ? list[0] : -1", 10),
    ("emptyList ? 1 : 2", 2),
    ("1 > 2 || 2 > 1 ? 'y' : 'n'", "y"),
    ("true ? 2 ^ 5000 : 1", RAISES),
    ("false ? 2 ^ 5000 : 1", 1),
)

COMPOSITES = table(
    ("[1, 1 + 1, [3]]", [1, 2, [3]]),
    ("{a: truck.status, b: [n.one]}", {"a": "EXPIRED_DOCS", "b": [1]}),
    ("[1, 2, 3][1]", 2),
    ("{a: {b: 5}}.a.b", 5),
    ("{'x y': 1}['x y']", 1),
    ("[truck.id, event.id]", ["TRK-1", "EVT-1"]),
    ("{a: 1}.b", None),
)

PURE_FUNCTIONS = [
    Case("now()", NOW, now_ms=NOW),
    Case("now() - 1000", NOW - 1000, now_ms=NOW),
    *table(
        ("distance(geo.blr, geo.blr)", 0.0),
        ("distance(geo.blr, geo.maa) > 280000 && distance(geo.blr, geo.maa) < 300000", True),
        ("distance({lat: 0, lng: 0}, {lat: 0, lng: 1}) > 111195", True),
        ("distance({lat: 0, lng: 0}, {lat: 0, lng: 1}) < 111196", True),
        ("distance(geo.blr, missing)", None),
        ("distance({lat: 91, lng: 0}, geo.blr)", None),
        ("distance({lat: 'x', lng: 0}, geo.blr)", None),
        ("distance({lat: true, lng: 0}, geo.blr)", None),
        ("textContainsPII('call 9876543210')", True),
        ("textContainsPII('9 8 7 6 5 4 3 2 1 0')", True),
        ("textContainsPII('+91-98765-43210')", True),
        ("textContainsPII('mail me at a.b@example.com')", True),
        ("textContainsPII('aadhaar 1234 5678 9012')", True),
        ("textContainsPII('pan ABCDE1234F')", True),
        ("textContainsPII('load 12 tonnes of rice, rate 45000')", False),
        ("textContainsPII(null)", False),
        ("textContainsPII(12345)", False),
        ("textContainsPII(ctx.payload.text) == true", True),
        ("priceEstimator.lowerBound({expectedPrice: 1000})", 900.0),
        ("priceEstimator.lowerBound({expectedPrice: 10.05})", 9.05),
        ("priceEstimator.lowerBound({expectedPrice: 1000, priceRange: {min: 750}})", 750.0),
        ("priceEstimator.lowerBound({})", None),
        ("priceEstimator.lowerBound(null)", None),
        ("priceEstimator.lowerBound({expectedPrice: 'x'})", None),
        ("priceEstimator.lowerBound({expectedPrice: -5})", None),
    ),
]

_TRUCKS_KEY = 'db.count.trucksByOperator("USR-1")'
DATA_FUNCTIONS = [
    Case("db.count.trucksByOperator(ctx.userId) >= 10", True, facts={_TRUCKS_KEY: 12}),
    Case("db.count.trucksByOperator(ctx.userId) >= 10", False, facts={_TRUCKS_KEY: 3}),
    Case("db.count.trucksByOperator(ctx.userId) >= 10", RAISES, facts={}),
    Case("db.count.trucksByOperator(ctx.userId)", None, facts={_TRUCKS_KEY: None}),
    Case(
        "rate.limitExceeded(ctx.userId, 'bid.modify', 10)",
        True,
        facts={'rate.limitExceeded("USR-1","bid.modify",10)': True},
    ),
    Case(
        "operator.maintenanceWindowActive('OP-1', now()) == true",
        True,
        facts={f'operator.maintenanceWindowActive("OP-1",{NOW})': True},
        now_ms=NOW,
    ),
    Case(
        "overlappingAcceptExists(ctx.deviceId, {start: 1, end: 2})",
        False,
        facts={'overlappingAcceptExists("DEV-9",{"end":2,"start":1})': False},
    ),
    Case(
        "db.count.driverAccountsByDevice(1.0)",
        3,
        facts={"db.count.driverAccountsByDevice(1)": 3},
    ),
]

EVALUATION_ERRORS = table(
    ("2 ^ 1001", RAISES),
    ("2 ^ 99999999", RAISES),
    ("1.5 ^ 2000", RAISES),
    ("10.0 ^ 400", RAISES),
    ("n.big ^ 1000", RAISES),
    ("db.count.trucksByOperator('none')", RAISES),
)

CASES: list[Case] = [
    *LITERALS,
    *STRING_ESCAPES,
    *PATHS,
    *ARITHMETIC,
    *PRECEDENCE,
    *EQUALITY,
    *ORDERING,
    *MEMBERSHIP,
    *LOGIC,
    *TERNARY,
    *COMPOSITES,
    *PURE_FUNCTIONS,
    *DATA_FUNCTIONS,
    *EVALUATION_ERRORS,
]
