from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import validate

from globalmart.generators.codec import InvalidDatum, compile_encoder, confluent_header
from globalmart.generators.config import KINDS, ModelConfig
from globalmart.generators.model import EventModel
from globalmart.generators.reference import Reference
from globalmart.generators.topics import Route
from globalmart.generators.wire import dead_letter_record
from globalmart.schemas.catalog import load_catalog

CATALOG = load_catalog()


def _fastavro(schema: dict[str, Any], datum: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), datum)
    return buffer.getvalue()


def _events(n: int, **overrides: Any) -> list[tuple[int, str, dict[str, Any]]]:
    config = ModelConfig(seed=3, reference_seed=42, start_time_us=1_790_000_000_000_000)
    model = EventModel(config if not overrides else ModelConfig(**{**config.__dict__, **overrides}))
    return [model.next_event() for _ in range(n)]


def test_generated_events_encode_exactly_like_fastavro() -> None:
    schemas = [CATALOG.entry(kind).latest.data for kind in KINDS]
    encoders = [compile_encoder(schema) for schema in schemas]
    seen = set()
    for kind, _key, event in _events(3000):
        assert encoders[kind](event) == _fastavro(schemas[kind], event)
        seen.add(kind)
    assert seen == {0, 1, 2}


def test_the_fast_half_alone_takes_every_generated_event() -> None:
    # The generator calls the fast half first: if it refused the model's events (and the careful
    # half took them), the bytes would still be right but every event would be encoded twice.
    schemas = [CATALOG.entry(kind).latest.data for kind in KINDS]
    fast = [getattr(compile_encoder(schema, confluent_header(7)), "fast") for schema in schemas]
    for kind, _key, event in _events(3000, late_share=0.2):
        assert fast[kind](event)[5:] == _fastavro(schemas[kind], event)


def test_the_fast_half_refuses_what_it_does_not_take_and_the_careful_half_decides() -> None:
    # Values the fast half leaves to the careful half: valid ones (a datetime, a bytearray, a
    # missing field that has a default) still encode right; invalid ones fail with the field.
    schema = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "raw", "type": "bytes"},
            {"name": "note", "type": ["null", "string"], "default": None},
            {"name": "n", "type": ["null", "long"]},
        ],
    }
    encode = compile_encoder(schema)
    fast = getattr(encode, "fast")
    valid = [
        {"at": datetime(2026, 1, 2, tzinfo=UTC), "raw": b"x", "note": "a", "n": 5},
        {"at": 1_790_000_000_000_000, "raw": bytearray(b"yz"), "note": None, "n": None},
        {"at": 1_790_000_000_000_000, "raw": b"", "n": -(2**40)},
    ]
    for datum in valid:
        assert encode(datum) == _fastavro(schema, datum), datum
    with pytest.raises((TypeError, KeyError)):
        fast(valid[0])
    with pytest.raises(InvalidDatum) as caught:
        encode({"at": 1_790_000_000_000_000, "raw": b"", "note": None, "n": True})
    assert caught.value.path == "n"


def test_reference_records_and_dead_letters_encode_like_fastavro() -> None:
    ref = Reference(7)
    records = {
        "user": list(ref.users(50)),
        "product": list(ref.products(50)),
        "category": list(ref.categories()),
        "country": list(ref.countries()),
    }
    for name, rows in records.items():
        schema = CATALOG.entry(name).latest.data
        encode = compile_encoder(schema)
        for row in rows:
            assert encode(row) == _fastavro(schema, row)
    route = Route("transaction", "transactions-topic", "x-transactions-topic")
    letter = dead_letter_record(
        route, "U1", {"event_id": "e", "amount": Decimal("1.5")}, "bad", "E"
    )
    schema = CATALOG.entry("dead_letter").latest.data
    assert compile_encoder(schema)(letter) == _fastavro(schema, letter)


def test_header_prefixes_the_confluent_framing_and_round_trips() -> None:
    schema = CATALOG.entry("transaction").latest.data
    _kind, _key, event = next(e for e in _events(200) if e[0] == 2)
    value = compile_encoder(schema, confluent_header(258))(event)
    assert value[:5] == b"\x00\x00\x00\x01\x02"
    decoded: Any = schemaless_reader(io.BytesIO(value[5:]), parse_schema(schema))
    assert decoded["total_amount"] == event["total_amount"]
    assert decoded["items"][0]["product_id"] == event["items"][0]["product_id"]


def _fastavro_accepts(datum: Any, parsed: Any) -> bool:
    try:
        return bool(validate(datum, parsed, raise_errors=False, strict=True))
    except (ValueError, TypeError):  # its decimal preparation raises instead of answering
        return False


def _broken_variants(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    variants = []
    for field, bad in [
        ("user_id", 12345),
        ("user_id", None),
        ("user_id", b"U1"),
        ("action", "teleport"),
        ("event_time", "yesterday"),
        ("event_time", 2**63),
        ("cart_item_count", 2**31),
        ("cart_item_count", True),
        ("cart_total", Decimal("1.005")),
        ("cart_total", Decimal("12345678901.00")),
        ("cart_total", 12.5),
        ("quantity", "two"),
    ]:
        if field in event:
            variants.append((field, {**event, field: bad}))
    missing = dict(event)
    del missing["country"]
    variants.append(("country", missing))
    return variants


def test_rejects_what_fastavro_rejects_and_names_the_field() -> None:
    schema = CATALOG.entry("cart_event").latest.data
    parsed = parse_schema(schema)
    encode = compile_encoder(schema)
    _kind, _key, event = next(e for e in _events(200) if e[0] == 1 and e[2]["quantity"])
    for field, broken in _broken_variants(event):
        assert not _fastavro_accepts(broken, parsed), field
        with pytest.raises(InvalidDatum) as caught:
            encode(broken)
        assert caught.value.path == field, (field, str(caught.value))


def test_unknown_fields_are_rejected_missing_defaults_filled() -> None:
    schema = CATALOG.entry("product_view").latest.data
    encode = compile_encoder(schema)
    _kind, _key, event = next(e for e in _events(50) if e[0] == 0)
    with pytest.raises(InvalidDatum, match="unknown field"):
        encode({**event, "colour": "red"})
    trimmed = {k: v for k, v in event.items() if k not in ("filters", "duration_seconds")}
    full = {**trimmed, "filters": {}, "duration_seconds": None}
    assert encode(trimmed) == encode(full) == _fastavro(schema, full)


def test_timestamps_take_aware_datetimes_only() -> None:
    schema = {
        "type": "record",
        "name": "t",
        "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}}],
    }
    encode = compile_encoder(schema)
    moment = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
    micros = int(moment.timestamp()) * 1_000_000 + 123456
    assert encode({"at": moment}) == encode({"at": micros}) == _fastavro(schema, {"at": micros})
    shifted = moment.astimezone(timezone(timedelta(hours=9)))
    assert encode({"at": shifted}) == encode({"at": micros})
    with pytest.raises(InvalidDatum, match="naive"):
        encode({"at": moment.replace(tzinfo=None)})


def test_general_unions_pick_the_first_matching_branch() -> None:
    schema = {
        "type": "record",
        "name": "u",
        "fields": [
            {"name": "v", "type": ["null", "int", "string", {"type": "array", "items": "long"}]},
            {"name": "w", "type": ["string", "null"]},
            {"name": "d", "type": "double"},
            {"name": "b", "type": "boolean"},
            {"name": "m", "type": {"type": "map", "values": ["null", "float"]}},
        ],
    }
    encode = compile_encoder(schema)
    for datum in [
        {"v": None, "w": "x", "d": 1.5, "b": True, "m": {}},
        {"v": 7, "w": None, "d": 2, "b": False, "m": {"a": 1.5, "b": None}},
        {"v": "seven", "w": "é", "d": -0.25, "b": True, "m": {"k": 3}},
        {"v": [1, -2, 2**40], "w": None, "d": 1e300, "b": False, "m": {}},
    ]:
        assert encode(datum) == _fastavro(schema, datum), datum
    with pytest.raises(InvalidDatum, match="union"):
        encode({"v": 1.5, "w": None, "d": 1.0, "b": True, "m": {}})
    with pytest.raises(InvalidDatum) as caught:
        encode({"v": None, "w": None, "d": 1.0, "b": 1, "m": {}})
    assert caught.value.path == "b"


def test_long_strings_and_big_counts_use_multi_byte_lengths() -> None:
    schema = {
        "type": "record",
        "name": "s",
        "fields": [
            {"name": "text", "type": "string"},
            {"name": "items", "type": {"type": "array", "items": "int"}},
        ],
    }
    datum = {"text": "ü" * 300, "items": list(range(-100, 100))}
    assert compile_encoder(schema)(datum) == _fastavro(schema, datum)


def test_timestamps_encode_like_fastavro_across_the_fast_range_and_beyond() -> None:
    # The fast path uses a table and a memo for [2^48, 2^55) us; its edges and the values
    # outside it (the general varint) must give fastavro's bytes too, and a datetime the same.
    schema = {
        "type": "record",
        "name": "t",
        "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}}],
    }
    encode = compile_encoder(schema)
    edges = [
        0,
        1,
        -1,
        2**48 - 1,
        2**48,
        2**48 + 8191,
        2**55 - 1,
        2**55,
        2**63 - 1,
        -(2**63),
    ]
    steps = [1_790_000_000_000_000 + n * 8192 + r for n in range(-3, 4) for r in (0, 1, 8191)]
    for value in edges + steps:
        assert encode({"at": value}) == _fastavro(schema, {"at": value}), value
    moment = datetime(2026, 11, 24, 12, 0, 0, 8191, tzinfo=UTC)
    assert encode({"at": moment}) == _fastavro(schema, {"at": moment})
    with pytest.raises(InvalidDatum, match="at"):
        encode({"at": 2**63})


def test_equal_decimals_share_one_encoding_and_bad_ones_still_fail() -> None:
    # The decimal memo is keyed by value: 1.5 and 1.50 are equal and encode alike, while a
    # value with too many places never matches a memo entry and is rejected.
    schema = CATALOG.entry("cart_event").latest.data
    encode = compile_encoder(schema)
    _kind, _key, event = next(e for e in _events(200) if e[0] == 1)
    one = encode({**event, "cart_total": Decimal("1.5")})
    assert one == encode({**event, "cart_total": Decimal("1.50")})
    assert one == _fastavro(schema, {**event, "cart_total": Decimal("1.50")})
    with pytest.raises(InvalidDatum, match="cart_total"):
        encode({**event, "cart_total": Decimal("1.505")})
    with pytest.raises(InvalidDatum, match="cart_total"):
        encode({**event, "cart_total": Decimal("NaN")})


def test_memo_bounds_do_not_change_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Strings, decimals and timestamp bytes are memoised in bounded dicts cleared when full:
    # with a bound of 2 every encoding still equals fastavro's.
    from globalmart.generators import codec

    monkeypatch.setattr(codec, "_CACHE_LIMIT", 2)
    codec._STRINGS.clear()  # earlier tests filled the memos: start empty so entries get added
    codec._TIMES.clear()
    for memo in codec._DECIMALS.values():
        memo.clear()
    schemas = [CATALOG.entry(kind).latest.data for kind in KINDS]
    encoders = [compile_encoder(schema) for schema in schemas]
    for kind, _key, event in _events(1500):
        assert encoders[kind](event) == _fastavro(schemas[kind], event)
    assert len(codec._TIMES) <= 2 and len(codec._STRINGS) <= 2
    assert all(len(memo) <= 2 for memo in codec._DECIMALS.values())


def test_records_of_one_field_none_and_nested_ones_encode_like_fastavro() -> None:
    # The fast path reads a record's values with one itemgetter: one field is not a tuple.
    inner = {"type": "record", "name": "inner", "fields": [{"name": "x", "type": "int"}]}
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (
            {"type": "record", "name": "one", "fields": [{"name": "a", "type": "string"}]},
            {"a": "z"},
        ),
        ({"type": "record", "name": "empty", "fields": []}, {}),
        (
            {"type": "record", "name": "outer", "fields": [{"name": "r", "type": inner}]},
            {"r": {"x": 5}},
        ),
    ]
    for schema, datum in cases:
        encode = compile_encoder(schema)
        assert encode(datum) == _fastavro(schema, datum), schema["name"]
    with pytest.raises(InvalidDatum, match="r.x"):
        compile_encoder(cases[2][0])({"r": {}})
