"""Message pacts for the Kafka events: the stream jobs consume, the generators provide.

Each interaction is one message on a topic (V4 asynchronous message): the event as JSON (its
Avro schema's JSON view, `avro_json`) with the fields the jobs rely on, and the Kafka key in the
metadata. Neither side reads the pact with a hand-written parser:

- consumer: every message is encoded with each writer schema the registry holds for its topic
  (Confluent framing), then decoded by the stream jobs' own `decode()` in Spark, resolved to the
  job's reader schema, and run through the checks of every job that reads the topic: it must
  decode, pass every check and come out with the pact's values;
- provider: the real generator code (behaviour model, compiled Avro encoder, registry ids) makes
  the message; its bytes are decoded with the registry's writer schema and matched against the
  pact's rules by the Pact verifier.

The committed pact in `pacts/` is the published contract; the consumer test fails when the
interactions it generates drift from it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import reduce
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from pact import Pact, Verifier, match
from pact.types import Message
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from globalmart.contracts.avro_json import from_json, to_json
from globalmart.core.settings import Settings
from globalmart.generators.config import KINDS, ModelConfig
from globalmart.generators.model import EventModel
from globalmart.generators.topics import routes
from globalmart.generators.wire import build_wire_formats, lookup_schema_ids
from globalmart.schemas.catalog import load_catalog
from globalmart.spark.session import get_spark
from globalmart.stream.decode import WriterSchemas, decode, fetch_writer_schemas
from globalmart.stream.job import JobSpec
from globalmart.stream.registry_jobs import JOBS

CONSUMER, PROVIDER = "globalmart-stream-jobs", "globalmart-generators"
PACT_FILE = f"{CONSUMER}-{PROVIDER}.json"
UTC_MICROS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
MONEY = r"^\d+\.\d{2}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
USER, PRODUCT, CATEGORY, COUNTRY = r"^U\d+$", r"^P\d+$", r"^C\d+$", r"^[A-Z]{2}$"
CATALOG = load_catalog()
#: the three event kinds by topic (the contracts' `topic` attribute)
KIND_OF_TOPIC = {CATALOG.entry(kind).latest.topic: kind for kind in KINDS}
TOPIC_OF_KIND = {kind: topic for topic, kind in KIND_OF_TOPIC.items()}


def _symbols(kind: str, field: str) -> str:
    enum = CATALOG.entry(kind).latest.field(field)
    assert enum is not None
    return "^(" + "|".join(enum["type"]["symbols"]) + ")$"


def _common(kind: str) -> dict[str, Any]:
    return {
        "event_id": match.regex("0d8f1a52-3c1e-8a6b-9f00-000000000001", regex=UUID),
        "event_time": match.regex("2026-11-24T10:15:00.250000Z", regex=UTC_MICROS),
        "user_id": match.regex("U00000042", regex=USER),
        "country": match.regex("US", regex=COUNTRY),
    }


def _message(
    pact: Pact, description: str, kind: str, body: dict[str, Any], key: str = "U00000042"
) -> None:
    (
        pact.upon_receiving(description, "Async")
        .with_body({**_common(kind), **body}, content_type="application/json")
        .with_metadata({"topic": TOPIC_OF_KIND[kind], "key": match.regex(key, regex=USER)})
    )


def event_pact() -> Pact:
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    line = {
        "product_id": match.regex("P000123", regex=PRODUCT),
        "category_id": match.regex("C004", regex=CATEGORY),
        "quantity": match.int(2),
        "unit_price": match.regex("19.99", regex=MONEY),
        "line_amount": match.regex("39.98", regex=MONEY),
    }
    purchase = {
        "transaction_id": match.str("T-5e1f00aa-0-1"),
        "payment_method": match.regex(
            "credit_card", regex=_symbols("transaction", "payment_method")
        ),
        "items": match.each_like(line, min=1),
        "total_amount": match.regex("39.98", regex=MONEY),
    }
    _message(
        pact,
        "a purchase after a checkout",
        "transaction",
        {**purchase, "session_id": match.str("S-5e1f00aa-0-7")},
    )
    _message(pact, "a direct purchase", "transaction", {**purchase, "session_id": None})
    cart = {
        "session_id": match.str("S-5e1f00aa-0-7"),
        "cart_total": match.regex("39.98", regex=MONEY),
        "cart_item_count": match.int(2),
    }
    _message(
        pact,
        "a product added to a cart",
        "cart_event",
        {
            **cart,
            "action": "add",
            "product_id": match.regex("P000123", regex=PRODUCT),
            "category_id": match.regex("C004", regex=CATEGORY),
            "quantity": match.int(2),
            "unit_price": match.regex("19.99", regex=MONEY),
        },
    )
    _message(
        pact,
        "a checkout",
        "cart_event",
        {**cart, "action": "checkout", "product_id": None, "quantity": None, "unit_price": None},
    )
    view = {"session_id": match.str("S-5e1f00aa-0-7")}
    _message(
        pact,
        "a product view",
        "product_view",
        {
            **view,
            "action": "view",
            "product_id": match.regex("P000123", regex=PRODUCT),
            "category_id": match.regex("C004", regex=CATEGORY),
            "duration_seconds": match.int(35),
        },
    )
    _message(
        pact,
        "a search",
        "product_view",
        {
            **view,
            "action": "search",
            "search_query": match.str("wireless headphones"),
            "product_id": None,
        },
    )
    _message(
        pact,
        "a comparison of products",
        "product_view",
        {
            **view,
            "action": "compare",
            "product_id": match.regex("P000123", regex=PRODUCT),
            "category_id": match.regex("C004", regex=CATEGORY),
            "compared_product_ids": match.each_like(match.regex("P000456", regex=PRODUCT), min=1),
        },
    )
    return pact


# -- consumer: the stream jobs' decoder and checks ---------------------------------------------
@pytest.fixture(scope="module")
def registry_settings(live_stack: Callable[..., Settings]) -> Settings:
    return live_stack("apicurio", "spark")


@pytest.fixture(scope="module")
def spark(registry_settings: Settings) -> Iterator[SparkSession]:
    session = get_spark("event-pact-consumer", registry_settings, shuffle_partitions=1)
    yield session
    session.stop()


def _framed(schema_id: int, writer_text: str, datum: dict[str, Any]) -> bytes:
    """What a producer sends: magic 0, the 4-byte schema id, the Avro body."""
    out = io.BytesIO()
    out.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(writer_text)), datum)
    return out.getvalue()


def _plain(value: Any) -> Any:
    """Spark's Python values compared with a datum: Rows as dicts, datetimes in UTC (PySpark
    returns them naive, in the process's local time)."""
    if isinstance(value, Row):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return value


class StreamJobsConsumer:
    """The pact's message handler: feeds each message through decode() and the jobs' checks."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self.writers: dict[str, WriterSchemas] = {}
        self.handled: list[tuple[str, int]] = []

    def __call__(self, body: str | bytes | None, metadata: dict[str, Any]) -> None:
        topic = str(metadata["topic"])
        kind = KIND_OF_TOPIC[topic]
        reader = CATALOG.entry(kind).latest
        message = json.loads(body or b"null")
        datum = from_json(message, reader.data)
        writers = self.writers.get(topic) or fetch_writer_schemas(self.settings, f"{topic}-value")
        self.writers[topic] = writers
        sent = datum["event_time"]
        rows = [
            (topic, 0, offset, sent, str(metadata["key"]).encode(), _framed(sid, text, datum))
            for offset, (sid, text) in enumerate(sorted(writers.by_id.items()))
        ]
        raw = self.spark.createDataFrame(
            rows,
            "topic string, partition int, offset long, timestamp timestamp, key binary, "
            "value binary",
        )
        decoded = decode(raw, writers, reader)
        jobs = [job for job in JOBS if job.source == kind]
        assert jobs, f"no stream job reads {topic}"
        verdicts = reduce(DataFrame.unionByName, [self._checked(decoded, job) for job in jobs])
        results = verdicts.collect()
        assert len(results) == len(rows) * len(jobs)
        for result in results:
            assert result["reject_reason"] is None, (result["job"], result["reject_reason"])
            assert _plain(result["event"]) == datum, result["job"]
        self.handled.append((topic, len(results)))

    @staticmethod
    def _checked(decoded: DataFrame, job: JobSpec) -> DataFrame:
        from globalmart.stream.decode import apply_checks

        flat = apply_checks(decoded.select("*", "event.*"), job.checks())
        return flat.select(F.lit(job.name).alias("job"), "reject_reason", "event")


def test_the_stream_jobs_decode_every_message_of_the_pact(
    spark: SparkSession, registry_settings: Settings, tmp_path: Path
) -> None:
    pact = event_pact()
    consumer = StreamJobsConsumer(spark, registry_settings)
    pact.verify(consumer, "Async")
    assert {topic for topic, _ in consumer.handled} == set(KIND_OF_TOPIC)
    assert len(consumer.handled) == 7
    pact.write_file(tmp_path, overwrite=True)
    written = json.loads((tmp_path / PACT_FILE).read_text())
    committed = json.loads(
        (resources.files("globalmart.contracts") / "pacts" / PACT_FILE).read_text()
    )
    assert _interactions(written) == _interactions(
        committed
    ), "the consumer's interactions changed: copy the new pact into contracts/.../pacts/"


def test_a_message_the_decoder_cannot_take_is_dead_lettered(
    spark: SparkSession, registry_settings: Settings
) -> None:
    """The consumer check above can fail: the same path rejects a message that breaks a job's
    rule (a purchase line with quantity 0), with the rule as its reason."""
    consumer = StreamJobsConsumer(spark, registry_settings)
    pact = event_pact()
    broken: list[Any] = []

    def handler(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        message = json.loads(body or b"null")
        if "items" not in message:
            return
        message["items"][0]["quantity"] = 0
        try:
            consumer(json.dumps(message), metadata)
        except AssertionError as exc:
            broken.append(str(exc))

    pact.verify(handler, "Async")
    assert len(broken) == 2 and all("quantity < 1" in b for b in broken), broken


def _interactions(pact: dict[str, Any]) -> list[str]:
    return sorted(
        json.dumps({k: v for k, v in i.items() if k != "key"}, sort_keys=True)
        for i in pact["interactions"]
    )


# -- provider: the generators ---------------------------------------------------------------
#: which generated event each interaction is about: (event kind, test on the event)
WANTED: dict[str, tuple[str, Callable[[dict[str, Any]], bool]]] = {
    "a purchase after a checkout": ("transaction", lambda e: e["session_id"] is not None),
    "a direct purchase": ("transaction", lambda e: e["session_id"] is None),
    "a product added to a cart": ("cart_event", lambda e: e["action"] == "add"),
    "a checkout": ("cart_event", lambda e: e["action"] == "checkout"),
    "a product view": ("product_view", lambda e: e["action"] == "view"),
    "a search": ("product_view", lambda e: e["action"] == "search"),
    "a comparison of products": (
        "product_view",
        lambda e: e["action"] == "compare" and bool(e["compared_product_ids"]),
    ),
}


class Generators:
    """Produces each message as the generator does: model -> compiled encoder -> bytes; the bytes
    are then shown as JSON through the registry's writer schema of their id."""

    def __init__(self, settings: Settings) -> None:
        client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
        self.client = client
        self.routes = routes(CATALOG)
        ids = lookup_schema_ids(client, CATALOG, self.routes)
        self.formats = build_wire_formats(CATALOG, self.routes, ids)
        now_us = int(datetime.now(timezone.utc).timestamp() * 1_000_000)
        config = ModelConfig(seed=8, reference_seed=settings.data_gen_seed, start_time_us=now_us)
        self.model = EventModel(config)
        self.produced: list[str] = []

    def __call__(self, name: str, metadata: dict[str, Any] | None = None) -> Message:
        kind, wanted = WANTED[name]
        for _ in range(200_000):
            index, key, event = self.model.next_event()
            if KINDS[index] == kind and wanted(event):
                break
        else:
            raise AssertionError(f"the generator made no event for {name!r}")
        value = self.formats[kind].encode(event)
        assert value[0] == 0, "Confluent framing"
        writer = self.client.get_schema(int.from_bytes(value[1:5], "big"))
        writer_schema = json.loads(str(writer.schema_str))
        datum = fastavro.schemaless_reader(
            io.BytesIO(value[5:]), fastavro.parse_schema(writer_schema), None
        )
        self.produced.append(name)
        return Message(
            contents=json.dumps(to_json(datum, writer_schema)).encode(),
            metadata={"topic": self.routes[kind].topic, "key": key},
            content_type="application/json",
        )


def test_the_generators_honour_the_pact(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("apicurio")
    generators = Generators(settings)
    pact = resources.files("globalmart.contracts") / "pacts" / PACT_FILE
    verifier = Verifier(PROVIDER).message_handler(generators).add_source(str(pact))
    verifier.verify()
    assert sorted(generators.produced) == sorted(WANTED)


def test_the_json_view_round_trips_a_generated_event() -> None:
    """avro_json is exact both ways on what the generator makes (decimals, times, nulls)."""
    model = EventModel(ModelConfig(seed=3, reference_seed=42, start_time_us=1_790_000_000_000_000))
    seen = set()
    for _ in range(300):
        index, _, event = model.next_event()
        schema = CATALOG.entry(KINDS[index]).latest.data
        datum = from_json(to_json(event, schema), schema)
        expected = dict(event, event_time=datum["event_time"])
        assert datum == expected and datum["event_time"].tzinfo is not None
        since_epoch = datum["event_time"] - datetime(1970, 1, 1, tzinfo=timezone.utc)
        assert since_epoch // timedelta(microseconds=1) == event["event_time"]
        seen.add(KINDS[index])
    assert seen == set(KINDS)
    assert isinstance(from_json("1.50", {"type": "bytes", "logicalType": "decimal"}), Decimal)
