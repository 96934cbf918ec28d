from __future__ import annotations

import json

from globalmart.schemas.catalog import load_catalog
from globalmart.stream.decode import decoding_text


def test_decoding_text_keeps_what_resolution_needs() -> None:
    data = load_catalog().entry("transaction").latest.data
    text = decoding_text(data)
    parsed = json.loads(text)
    assert '"doc"' not in text and '"topic"' not in text
    payment = next(f for f in parsed["fields"] if f["name"] == "payment_method")
    assert payment["type"]["default"] == "other"
    session = next(f for f in parsed["fields"] if f["name"] == "session_id")
    assert "default" in session and session["default"] is None
    assert len(text) < len(json.dumps(data)) / 2
