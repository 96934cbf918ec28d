"""The dashboard's number formats (static/dashboard/format.js), run by Node.

The page shows money summed exactly from the API's decimal strings and rounded half-up to cents;
these checks pin that down against Python's Decimal, so a tile equals a sum of the API's rows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal

import pytest

from globalmart.gateway.static_files import static_dir

SCRIPT = """
import * as f from %s;
const out = {
  sum: f.decimalText(f.sumDecimals(["0.10", "0.20", "1234567890123.45", "7"])),
  money: f.money(f.sumDecimals(["1234.5", "0.005"])),
  halfUp: [f.money(f.parseDecimal("0.125")), f.money(f.parseDecimal("2.675"))],
  negative: f.money(f.parseDecimal("-1234.565")),
  average: f.decimalText(f.divideDecimal(f.parseDecimal("10.00"), 3, 2)),
  averageUp: f.decimalText(f.divideDecimal(f.parseDecimal("0.05"), 2, 2)),
  byZero: f.divideDecimal(f.parseDecimal("1"), 0),
  compare: [f.compareDecimals(f.parseDecimal("1.5"), f.parseDecimal("1.50")),
            f.compareDecimals(f.parseDecimal("9.99"), f.parseDecimal("10"))],
  count: f.count(1234567),
  percent: [f.percent(0.1234), f.percent(null)],
  number: [f.number(1234.5, 2), f.number(3, 2), f.number(-1234.25, 1)],
  clock: f.clock("2026-11-24T09:05:59.999Z"),
  ago: [f.ago(42), f.ago(600), f.ago(9000), f.ago(400000)],
};
let bad = null;
try { f.parseDecimal("1e5"); } catch (e) { bad = e.message; }
out.bad = bad;
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def formatted() -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js 18+) is needed: it also builds the gateway's bundles")
    module = json.dumps((static_dir() / "dashboard" / "format.js").resolve().as_uri())
    done = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT % module],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(done.stdout)
    return result


def test_exact_sums_and_half_up_cents(formatted: dict) -> None:
    assert formatted["sum"] == "1234567890130.75"
    assert formatted["money"] == "$1,234.51"  # 1234.505 rounds up, unlike float or half-even
    assert formatted["halfUp"] == ["$0.13", "$2.68"]
    assert Decimal("2.675").quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal("2.68")
    assert formatted["negative"] == "-$1,234.57"
    assert formatted["average"] == "3.33" and formatted["averageUp"] == "0.03"
    assert formatted["byZero"] is None
    assert formatted["compare"] == [0, -1]
    assert formatted["bad"] == "not a decimal: 1e5"


def test_fixed_formats(formatted: dict) -> None:
    assert formatted["count"] == "1,234,567"
    assert formatted["percent"] == ["12.3%", "–"]
    assert formatted["number"] == ["1,234.5", "3", "-1,234.3"]
    assert formatted["clock"] == "09:05"
    assert formatted["ago"] == ["42 s", "10 min", "2.5 h", "5 d"]
