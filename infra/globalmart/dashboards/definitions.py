"""The spec's four Grafana dashboards: System Health, Data Ingestion, Stream Processing and
Real-Time Business Metrics.

PromQL panels read what the services export (see globalmart.dashboards.exporters; a test fails on
any name nobody exports). SQL panels read the real-time tables through the read-only role, always
with a `$__timeFilter` on an indexed time column: the windowed tables are small, the raw events are
not in PostgreSQL at all. A window whose `is_final` is false is still open: its totals grow until
the watermark passes, so such rows are drawn as a separate, dashed "partial" series.
"""

from __future__ import annotations

from collections.abc import Sequence

from globalmart.dashboards.grafana import (
    PARTIAL_SUFFIX,
    WAREHOUSE,
    Json,
    Panel,
    Row,
    annotation,
    dashboard,
    partial_override,
    prom,
    sql,
    thresholds,
    value_text,
)

RATE = "[$__rate_interval]"
EVENT_TOPICS = "transactions-topic|cart-events-topic|product-views-topic"


def _final_and_partial(
    columns: Sequence[tuple[str, str]], table: str, *, group: str = ""
) -> list[Json]:
    """Two queries over a windowed table: closed windows (A) and the still-open one (B).

    `columns` are (expression, name) pairs charted against window_start; the open window's series
    get PARTIAL_SUFFIX on their names, which partial_override() draws differently. With `group`,
    rows are aggregated per window over the other key columns (e.g. countries), and a window is
    final once all its rows are.
    """
    final = ", ".join(f'{expr} AS "{name}"' for expr, name in columns)
    partial = ", ".join(f'{expr} AS "{name} {PARTIAL_SUFFIX}"' for expr, name in columns)
    head = 'SELECT window_start AS "time",'
    where = f"FROM {table} WHERE $__timeFilter(window_start)"
    if group:
        return [
            sql(f"{head} {final} {where} GROUP BY {group} HAVING bool_and(is_final) ORDER BY 1"),
            sql(
                f"{head} {partial} {where} GROUP BY {group} HAVING NOT bool_and(is_final) "
                "ORDER BY 1",
                "B",
            ),
        ]
    return [
        sql(f"{head} {final} {where} AND is_final ORDER BY 1"),
        sql(f"{head} {partial} {where} AND NOT is_final ORDER BY 1", "B"),
    ]


UP_DOWN = value_text({"1": ("UP", "green"), "0": ("DOWN", "red")})


def system_health() -> Json:
    pg_connections = (
        "SELECT count(*) AS connections FROM pg_stat_activity WHERE datname = current_database()"
    )
    pg_size = 'SELECT pg_database_size(current_database()) AS "size"'
    pg_hit = (
        'SELECT sum(blks_hit)::float8 / nullif(sum(blks_hit + blks_read), 0) AS "cache hit ratio" '
        "FROM pg_stat_database WHERE datname = current_database()"
    )
    pg_xact = (
        "SELECT xact_commit AS commits, xact_rollback AS rollbacks, deadlocks "
        "FROM pg_stat_database WHERE datname = current_database()"
    )
    return dashboard(
        "gm-system-health",
        "GlobalMart · System Health",
        "Is every component up, and how are the JVMs, processes, Kafka, the gateway, its Redis "
        "cache and the two PostgreSQL databases doing.",
        [
            Row("Components"),
            Panel(
                "stat",
                "Scraped components",
                [prom("up", "{{job}}", instant=True)],
                "Prometheus' `up` per scrape job: 1 when the last scrape of its /metrics worked. "
                "Jobs that are not running (e.g. the generator between runs) show DOWN.",
                width=24,
                height=4,
                mappings=UP_DOWN,
                threshold_steps=thresholds((None, "red"), (1, "green")),
                options={"colorMode": "background", "textMode": "value_and_name"},
            ),
            Row("JVM: Kafka broker"),
            Panel(
                "timeseries",
                "Heap",
                [
                    prom('jvm_memory_used_bytes{job="kafka",area="heap"}', "used"),
                    prom('jvm_memory_committed_bytes{job="kafka",area="heap"}', "committed", "B"),
                    prom('jvm_memory_max_bytes{job="kafka",area="heap"}', "max", "C"),
                ],
                "Broker JVM heap, from the JMX exporter agent.",
                unit="bytes",
                width=8,
            ),
            Panel(
                "timeseries",
                "GC time",
                [prom(f'rate(jvm_gc_collection_seconds_sum{{job="kafka"}}{RATE})', "{{gc}}")],
                "Share of wall-clock time spent in each garbage collector.",
                unit="percentunit",
                width=8,
            ),
            Panel(
                "timeseries",
                "Threads",
                [prom('jvm_threads_current{job="kafka"}', "threads")],
                width=8,
            ),
            Row("Processes"),
            Panel(
                "timeseries",
                "CPU",
                [prom(f"rate(process_cpu_seconds_total{RATE})", "{{job}}")],
                "CPU used by each scraped process (1.0 = one core busy).",
                unit="percentunit",
            ),
            Panel(
                "timeseries",
                "Resident memory",
                [prom("process_resident_memory_bytes", "{{job}}")],
                unit="bytes",
            ),
            Row("Kafka broker"),
            Panel(
                "stat",
                "Under-replicated partitions",
                [prom("kafka_server_replicamanager_underreplicatedpartitions", instant=True)],
                width=4,
                height=4,
                threshold_steps=thresholds((None, "green"), (1, "red")),
            ),
            Panel(
                "stat",
                "Offline partitions",
                [prom("kafka_controller_kafkacontroller_offlinepartitionscount", instant=True)],
                width=4,
                height=4,
                threshold_steps=thresholds((None, "green"), (1, "red")),
            ),
            Panel(
                "stat",
                "Active controller",
                [prom("kafka_controller_kafkacontroller_activecontrollercount", instant=True)],
                "Exactly one broker must be the active KRaft controller.",
                width=4,
                height=4,
                threshold_steps=thresholds((None, "red"), (1, "green"), (2, "red")),
            ),
            Panel(
                "stat",
                "Partitions",
                [prom("kafka_server_replicamanager_partitioncount", instant=True)],
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Request handlers idle",
                [
                    prom(
                        "clamp_max("
                        "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent, 1)",
                        instant=True,
                    )
                ],
                "Below ~20% the broker's I/O threads are the bottleneck.",
                unit="percentunit",
                width=4,
                height=4,
                threshold_steps=thresholds((None, "red"), (0.2, "orange"), (0.5, "green")),
            ),
            Panel(
                "stat",
                "Network threads idle",
                [prom("kafka_network_socketserver_networkprocessoravgidlepercent", instant=True)],
                unit="percentunit",
                width=4,
                height=4,
                threshold_steps=thresholds((None, "red"), (0.2, "orange"), (0.5, "green")),
            ),
            Row("Gateway and its Redis cache"),
            Panel(
                "timeseries",
                "Requests by status",
                [prom(f"sum by (status) (rate(gateway_http_requests_total{RATE}))", "{{status}}")],
                unit="reqps",
                width=8,
            ),
            Panel(
                "timeseries",
                "Latency",
                [
                    prom(
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(gateway_http_request_duration_seconds_bucket{RATE})))",
                        "p95",
                    ),
                    prom(
                        "histogram_quantile(0.5, sum by (le) "
                        f"(rate(gateway_http_request_duration_seconds_bucket{RATE})))",
                        "p50",
                        "B",
                    ),
                ],
                unit="s",
                width=8,
            ),
            Panel(
                "timeseries",
                "Cache lookups by result",
                [prom(f"sum by (result) (rate(gateway_cache_requests_total{RATE}))", "{{result}}")],
                "Redis answers (hit), misses, coalesced waits, errors (Redis down) and bypasses.",
                unit="reqps",
                width=5,
            ),
            Panel(
                "stat",
                "Cache hit ratio",
                [prom("gateway_cache_hit_ratio", instant=True)],
                unit="percentunit",
                width=3,
            ),
            Row("PostgreSQL"),
            Panel(
                "stat",
                "Real-time: connections",
                [sql(pg_connections, table=True)],
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Real-time: size",
                [sql(pg_size, table=True)],
                unit="bytes",
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Real-time: cache hit ratio",
                [sql(pg_hit, table=True)],
                "Share of block reads served from shared buffers.",
                unit="percentunit",
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Warehouse: connections",
                [sql(pg_connections, table=True, datasource=WAREHOUSE)],
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Warehouse: size",
                [sql(pg_size, table=True, datasource=WAREHOUSE)],
                unit="bytes",
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Warehouse: cache hit ratio",
                [sql(pg_hit, table=True, datasource=WAREHOUSE)],
                unit="percentunit",
                width=4,
                height=4,
            ),
            Panel(
                "table",
                "Transactions since stats reset",
                [
                    sql(pg_xact.replace("SELECT", "SELECT 'real-time' AS database,"), table=True),
                    sql(
                        pg_xact.replace("SELECT", "SELECT 'warehouse' AS database,"),
                        "B",
                        table=True,
                        datasource=WAREHOUSE,
                    ),
                ],
                width=12,
                height=6,
                options={"showHeader": True},
            ),
            Panel(
                "timeseries",
                "Prometheus: scrape duration",
                [prom("scrape_duration_seconds", "{{job}}")],
                unit="s",
                width=6,
                height=6,
            ),
            Panel(
                "stat",
                "Prometheus: series in memory",
                [prom("prometheus_tsdb_head_series", instant=True)],
                width=6,
                height=6,
            ),
        ],
    )


def data_ingestion() -> Json:
    dlq = 'topic=~".*-dlq"'
    return dashboard(
        "gm-data-ingestion",
        "GlobalMart · Data Ingestion",
        "Events from the generators into Kafka: rates per topic and type, delivery failures and "
        "the dead-letter topics.",
        [
            Row("Kafka topics"),
            Panel(
                "timeseries",
                "Messages in per topic",
                [
                    prom(
                        "sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total"
                        f'{{topic=~"{EVENT_TOPICS}"}}{RATE}))',
                        "{{topic}}",
                    )
                ],
                unit="short",
                width=8,
            ),
            Panel(
                "timeseries",
                "Bytes in per topic",
                [
                    prom(
                        "sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesin_total"
                        f'{{topic!=""}}{RATE}))',
                        "{{topic}}",
                    )
                ],
                unit="Bps",
                width=8,
            ),
            Panel(
                "timeseries",
                "Bytes out per topic",
                [
                    prom(
                        "sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesout_total"
                        f'{{topic!=""}}{RATE}))',
                        "{{topic}}",
                    )
                ],
                "What consumers (the stream jobs, the archive) read.",
                unit="Bps",
                width=8,
            ),
            Panel(
                "stat",
                "Broker messages in",
                [
                    prom(
                        "sum(rate(kafka_server_brokertopicmetrics_messagesin_total"
                        f'{{topic=""}}{RATE}))',
                        instant=True,
                    )
                ],
                "All topics, including tests' and internal ones.",
                unit="short",
                width=4,
                height=5,
                decimals=1,
            ),
            Panel(
                "stat",
                "Failed produce requests",
                [
                    prom(
                        "sum(increase(kafka_server_brokertopicmetrics_failedproducerequests_total"
                        '{topic=""}[1h]))',
                        instant=True,
                    )
                ],
                "In the last hour.",
                width=4,
                height=5,
                threshold_steps=thresholds((None, "green"), (1, "red")),
            ),
            Panel(
                "timeseries",
                "Requests by API",
                [
                    prom(
                        "sum by (request) (rate(kafka_network_requestmetrics_requests_total"
                        f'{{request=~"Produce|Fetch|FetchConsumer|Metadata"}}{RATE}))',
                        "{{request}}",
                    )
                ],
                unit="reqps",
                width=8,
                height=5,
            ),
            Panel(
                "timeseries",
                "Produce and fetch latency",
                [
                    prom(
                        'kafka_network_requestmetrics_totaltimems{quantile=~"0.50|0.99"}',
                        "{{request}} p{{quantile}}",
                    )
                ],
                "Broker-side total request time (queue + local + remote + response).",
                unit="ms",
                width=8,
                height=5,
            ),
            Row("Generator"),
            Panel(
                "timeseries",
                "Events sent by type",
                [
                    prom(
                        f"sum by (type) (rate(globalmart_generator_events_total{RATE}))", "{{type}}"
                    )
                ],
                unit="short",
                width=8,
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Delivered and failed",
                [
                    prom(f"sum(rate(globalmart_generator_delivered_total{RATE}))", "delivered"),
                    prom(
                        f"sum by (type) (rate(globalmart_generator_delivery_failures_total{RATE}))",
                        "failed {{type}}",
                        "B",
                    ),
                ],
                "Acknowledged by the broker (acks=all) versus reported undelivered.",
                unit="short",
                width=8,
                overrides=[
                    {
                        "matcher": {"id": "byRegexp", "options": "failed.*"},
                        "properties": [
                            {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}
                        ],
                    }
                ],
            ),
            Panel(
                "timeseries",
                "Send latency",
                [
                    prom(
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(globalmart_generator_send_latency_seconds_bucket{RATE})))",
                        "p95",
                    ),
                    prom(
                        "histogram_quantile(0.5, sum by (le) "
                        f"(rate(globalmart_generator_send_latency_seconds_bucket{RATE})))",
                        "p50",
                        "B",
                    ),
                ],
                "produce() to broker acknowledgement.",
                unit="s",
                width=8,
            ),
            Panel(
                "stat",
                "Send rate",
                [prom("sum(globalmart_generator_events_per_second)", instant=True)],
                unit="short",
                width=4,
                height=5,
                decimals=1,
            ),
            Panel(
                "stat",
                "Worker processes",
                [prom("sum(globalmart_generator_processes)", instant=True)],
                width=4,
                height=5,
            ),
            Panel(
                "stat",
                "Delivery failures (run)",
                [prom("sum(globalmart_generator_delivery_failures_total)", instant=True)],
                width=4,
                height=5,
                threshold_steps=thresholds((None, "green"), (1, "red")),
            ),
            Panel(
                "timeseries",
                "Anomalies and late events injected",
                [
                    prom(
                        f"sum by (kind) (rate(globalmart_generator_anomalies_total{RATE}))",
                        "{{kind}}",
                    ),
                    prom(f"sum(rate(globalmart_generator_late_events_total{RATE}))", "late", "B"),
                ],
                "What the generator injects on purpose; the stream jobs should find it again.",
                unit="short",
                width=12,
                height=5,
            ),
            Row("Dead letters"),
            Panel(
                "timeseries",
                "Invalid events sent to the DLQ (generator)",
                [
                    prom(
                        f"sum by (type) (rate(globalmart_generator_invalid_events_total{RATE}))",
                        "{{type}}",
                    ),
                    prom(
                        "sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total"
                        f"{{{dlq}}}{RATE}))",
                        "into {{topic}}",
                        "B",
                    ),
                ],
                unit="short",
                width=8,
            ),
            Panel(
                "timeseries",
                "DLQ depth",
                [
                    prom(
                        f"sum by (topic) (kafka_log_log_logendoffset{{{dlq}}} "
                        f"- kafka_log_log_logstartoffset{{{dlq}}})",
                        "{{topic}}",
                    )
                ],
                "Records kept in each dead-letter topic (end offset minus start offset).",
                unit="short",
                width=8,
            ),
            Panel(
                "timeseries",
                "Dead letters stored by the stream jobs",
                [
                    sql(
                        "SELECT $__timeGroupAlias(failed_at, '1m'), failed_by AS metric, "
                        "count(*) AS value FROM dead_letters WHERE $__timeFilter(failed_at) "
                        "GROUP BY 1, 2 ORDER BY 1"
                    )
                ],
                "Messages a stream job could not decode or process, per minute and job.",
                unit="short",
                width=8,
                bars=True,
                stacked=True,
            ),
            Panel(
                "table",
                "Latest dead letters",
                [
                    sql(
                        'SELECT failed_at AS "time", failed_by, kafka_topic, kafka_partition, '
                        "kafka_offset, error_type, reason FROM dead_letters "
                        "WHERE $__timeFilter(failed_at) ORDER BY failed_at DESC LIMIT 50",
                        table=True,
                    )
                ],
                width=24,
            ),
        ],
    )


def stream_processing() -> Json:
    return dashboard(
        "gm-stream-processing",
        "GlobalMart · Stream Processing",
        "The Spark Structured Streaming queries: throughput, batch durations, late data dropped by "
        "the watermark, state size, lag and what they write.",
        [
            Row("Throughput"),
            Panel(
                "timeseries",
                "Input rows per query",
                [prom(f"sum by (query) (rate(gm_stream_input_rows_total{RATE}))", "{{query}}")],
                "Kafka records read, from Spark's progress reports.",
                unit="short",
                width=8,
            ),
            Panel(
                "timeseries",
                "Processed rows/s (last batch)",
                [prom("gm_stream_processed_rows_per_second", "{{query}}")],
                "Spark's processedRowsPerSecond: below the input rate, the query falls behind.",
                unit="short",
                width=8,
            ),
            Panel(
                "timeseries",
                "Input rows/s (last batch)",
                [prom("gm_stream_input_rows_per_second", "{{query}}")],
                unit="short",
                width=8,
            ),
            Row("Batches"),
            Panel(
                "timeseries",
                "Batch duration",
                [prom("gm_stream_batch_duration_seconds", "{{query}}")],
                "Trigger execution time of the last micro-batch.",
                unit="s",
                width=8,
            ),
            Panel(
                "timeseries",
                "Batches committed and replayed",
                [
                    prom(
                        f"sum by (query, outcome) (rate(gm_stream_batches_total{RATE}))",
                        "{{query}} {{outcome}}",
                    )
                ],
                "A replayed batch was already in the ledger and was skipped (exactly-once).",
                unit="short",
                width=8,
            ),
            Panel(
                "stat",
                "Queries running",
                [prom("gm_stream_query_active", "{{query}}", instant=True)],
                width=4,
                mappings=value_text({"1": ("running", "green"), "0": ("stopped", "red")}),
                options={"colorMode": "background", "textMode": "value_and_name"},
            ),
            Panel(
                "stat",
                "Last batch id",
                [prom("gm_stream_last_batch_id", "{{query}}", instant=True)],
                width=4,
                options={"textMode": "value_and_name"},
            ),
            Row("Late data, state and lag"),
            Panel(
                "timeseries",
                "Rows dropped as late",
                [
                    prom(
                        "sum by (query) "
                        f"(increase(gm_stream_rows_dropped_by_watermark_total{RATE}))",
                        "{{query}}",
                    )
                ],
                "Spark's numRowsDroppedByWatermark: events later than the watermark allows.",
                unit="short",
                width=6,
                bars=True,
            ),
            Panel(
                "timeseries",
                "State rows",
                [prom("gm_stream_state_rows", "{{query}}")],
                "Rows held by the stateful operators; bounded when the watermark works.",
                unit="short",
                width=6,
            ),
            Panel(
                "timeseries",
                "Event-time lag (watermark behind now)",
                [prom("time() - gm_stream_watermark_timestamp_seconds", "{{query}}")],
                "How far each query's watermark trails the wall clock: delay + allowed lateness.",
                unit="s",
                width=6,
            ),
            Panel(
                "table",
                "Freshness: last committed batch",
                [
                    sql(
                        "SELECT query_name, max(batch_id) AS last_batch, "
                        "max(committed_at) AS last_commit, "
                        'extract(epoch from now() - max(committed_at)) AS "seconds ago" '
                        "FROM stream_batch_ledger WHERE $__timeFilter(committed_at) "
                        "GROUP BY query_name ORDER BY query_name",
                        table=True,
                    )
                ],
                "From the exactly-once ledger, written in the same transaction as the rows.",
                width=6,
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": "seconds ago"},
                        "properties": [
                            {"id": "unit", "value": "s"},
                            {
                                "id": "thresholds",
                                "value": thresholds((None, "green"), (60, "orange"), (300, "red")),
                            },
                            {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                        ],
                    }
                ],
            ),
            Row("Output"),
            Panel(
                "timeseries",
                "Rows written per table",
                [prom(f"sum by (table) (rate(gm_stream_rows_written_total{RATE}))", "{{table}}")],
                unit="short",
                width=8,
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Rows committed per query (ledger)",
                [
                    sql(
                        "SELECT $__timeGroupAlias(committed_at, '1m'), query_name AS metric, "
                        "sum(rows_written) AS value FROM stream_batch_ledger "
                        "WHERE $__timeFilter(committed_at) GROUP BY 1, 2 ORDER BY 1"
                    )
                ],
                unit="short",
                width=8,
                bars=True,
                stacked=True,
            ),
            Panel(
                "timeseries",
                "Windows finalized and alerts raised",
                [
                    prom(
                        f"sum by (query) (rate(gm_stream_windows_finalized_total{RATE}))",
                        "finalized {{query}}",
                    ),
                    prom(
                        f"sum by (severity) (rate(gm_stream_alerts_new_total{RATE}))",
                        "alerts {{severity}}",
                        "B",
                    ),
                ],
                unit="short",
                width=8,
            ),
        ],
    )


def business_metrics() -> Json:
    open_windows = sql(
        'SELECT window_start AS "time", window_end AS timeend, '
        "'open window: totals still growing' AS text FROM sales_per_minute "
        "WHERE $__timeFilter(window_start) AND NOT is_final",
        "Open",
        table=True,
    )
    critical = sql(
        'SELECT alert_generated_at AS "time", title AS text, alert_type AS tags FROM alerts '
        "WHERE $__timeFilter(alert_generated_at) AND severity = 'critical'",
        "Critical",
        table=True,
    )
    severity_colors = value_text(
        {
            "critical": ("critical", "red"),
            "warning": ("warning", "orange"),
            "info": ("info", "blue"),
        }
    )
    return dashboard(
        "gm-business",
        "GlobalMart · Real-Time Business Metrics",
        "Revenue, orders, conversion, cart abandonment, anomalies, alerts, trending products and "
        "inventory alerts from the real-time tables. Dashed orange points are the still-open "
        "window: its totals grow until the watermark passes and the row is marked final.",
        [
            Row("Sales"),
            Panel(
                "stat",
                "Revenue",
                [
                    sql(
                        'SELECT coalesce(sum(total_revenue), 0) AS "revenue" FROM sales_per_minute '
                        "WHERE $__timeFilter(window_start)",
                        table=True,
                    )
                ],
                "In the selected time range, open window included.",
                unit="currencyUSD",
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Orders",
                [
                    sql(
                        'SELECT coalesce(sum(transaction_count), 0) AS "orders" '
                        "FROM sales_per_minute WHERE $__timeFilter(window_start)",
                        table=True,
                    )
                ],
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Average order value",
                [
                    sql(
                        "SELECT sum(total_revenue) / nullif(sum(transaction_count), 0) "
                        'AS "average order value" FROM sales_per_minute '
                        "WHERE $__timeFilter(window_start)",
                        table=True,
                    )
                ],
                unit="currencyUSD",
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Conversion",
                [
                    sql(
                        "SELECT sum(checkout_count)::float8 / nullif(sum(session_count), 0) "
                        'AS "conversion" FROM cart_metrics WHERE $__timeFilter(window_start)',
                        table=True,
                    )
                ],
                "Cart sessions that checked out.",
                unit="percentunit",
                width=4,
                height=4,
            ),
            Panel(
                "stat",
                "Cart abandonment",
                [
                    sql(
                        "SELECT sum(abandon_count)::float8"
                        " / nullif(sum(checkout_count) + sum(abandon_count), 0) "
                        'AS "abandonment" FROM cart_metrics WHERE $__timeFilter(window_start)',
                        table=True,
                    )
                ],
                "Abandoned / (checked out + abandoned), as cart_metrics.abandonment_rate.",
                unit="percentunit",
                width=4,
                height=4,
                threshold_steps=thresholds((None, "green"), (0.5, "orange"), (0.75, "red")),
            ),
            Panel(
                "stat",
                "Alerts",
                [
                    sql(
                        'SELECT count(*) AS "alerts" FROM alerts '
                        "WHERE $__timeFilter(alert_generated_at)",
                        table=True,
                    )
                ],
                width=4,
                height=4,
            ),
            Panel(
                "timeseries",
                "Revenue per minute",
                _final_and_partial([("total_revenue", "revenue")], "sales_per_minute"),
                unit="currencyUSD",
                bars=True,
                overrides=[partial_override()],
            ),
            Panel(
                "timeseries",
                "Orders per minute",
                _final_and_partial(
                    [("transaction_count", "orders"), ("unique_customers", "customers")],
                    "sales_per_minute",
                ),
                unit="short",
                overrides=[partial_override()],
            ),
            Panel(
                "bargauge",
                "Revenue by country",
                [
                    sql(
                        'SELECT country, sum(total_revenue) AS "revenue" FROM sales_by_country '
                        "WHERE $__timeFilter(window_start) GROUP BY country "
                        "ORDER BY 2 DESC LIMIT 15",
                        table=True,
                    )
                ],
                unit="currencyUSD",
                options={
                    "orientation": "horizontal",
                    "displayMode": "gradient",
                    "reduceOptions": {"calcs": [], "fields": "", "values": True},
                },
            ),
            Panel(
                "timeseries",
                "Units sold per minute (inventory)",
                _final_and_partial(
                    [("sum(units_sold)", "units")], "inventory_metrics", group="window_start"
                ),
                unit="short",
                overrides=[partial_override()],
            ),
            Row("Carts"),
            Panel(
                "timeseries",
                "Conversion and abandonment per 5 minutes",
                _final_and_partial(
                    [
                        (
                            "sum(checkout_count)::float8 / nullif(sum(session_count), 0)",
                            "conversion",
                        ),
                        (
                            "sum(abandon_count)::float8"
                            " / nullif(sum(checkout_count) + sum(abandon_count), 0)",
                            "abandonment",
                        ),
                    ],
                    "cart_metrics",
                    group="window_start",
                ),
                unit="percentunit",
                overrides=[partial_override()],
            ),
            Panel(
                "timeseries",
                "Abandoned carts",
                [
                    sql(
                        "SELECT $__timeGroupAlias(abandoned_at, '5m'), "
                        'count(*) AS "abandoned carts", sum(cart_value) AS "value left behind" '
                        "FROM abandoned_carts WHERE $__timeFilter(abandoned_at) "
                        "GROUP BY 1 ORDER BY 1"
                    )
                ],
                bars=True,
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": "value left behind"},
                        "properties": [
                            {"id": "unit", "value": "currencyUSD"},
                            {"id": "custom.axisPlacement", "value": "right"},
                            {"id": "custom.drawStyle", "value": "line"},
                        ],
                    }
                ],
            ),
            Row("Anomalies and alerts"),
            Panel(
                "timeseries",
                "Anomalies per minute",
                _final_and_partial(
                    [("high_value_count", "high value"), ("high_quantity_count", "high quantity")],
                    "anomaly_stats",
                ),
                unit="short",
                bars=True,
                overrides=[partial_override()],
            ),
            Panel(
                "timeseries",
                "Alerts by severity",
                [
                    sql(
                        "SELECT $__timeGroupAlias(alert_generated_at, '5m'), severity AS metric, "
                        "count(*) AS value FROM alerts WHERE $__timeFilter(alert_generated_at) "
                        "GROUP BY 1, 2 ORDER BY 1"
                    )
                ],
                unit="short",
                bars=True,
                stacked=True,
            ),
            Panel(
                "table",
                "Latest alerts",
                [
                    sql(
                        'SELECT alert_generated_at AS "time", severity, alert_type, title, '
                        "country, entity_id FROM alerts WHERE $__timeFilter(alert_generated_at) "
                        "ORDER BY alert_generated_at DESC LIMIT 50",
                        table=True,
                    )
                ],
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": "severity"},
                        "properties": [
                            {"id": "mappings", "value": severity_colors},
                            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                        ],
                    }
                ],
            ),
            Panel(
                "table",
                "Latest anomalous transactions",
                [
                    sql(
                        "SELECT detected_at AS \"time\", 'high value' AS kind, transaction_id, "
                        "user_id, country, total_amount AS amount FROM high_value_anomalies "
                        "WHERE $__timeFilter(detected_at) "
                        "UNION ALL SELECT detected_at, 'high quantity', transaction_id, user_id, "
                        "country, line_amount FROM high_quantity_anomalies "
                        "WHERE $__timeFilter(detected_at) ORDER BY 1 DESC LIMIT 50",
                        table=True,
                    )
                ],
            ),
            Panel(
                "table",
                "Suspicious users",
                [
                    sql(
                        'SELECT window_start AS "time", user_id, country, pattern, '
                        "transaction_count, total_amount, "
                        "CASE WHEN is_final THEN 'final' ELSE 'open (partial)' END AS \"window\" "
                        "FROM suspicious_patterns WHERE $__timeFilter(window_start) "
                        "ORDER BY window_start DESC LIMIT 50",
                        table=True,
                    )
                ],
                width=24,
                height=6,
            ),
            Row("Products and inventory"),
            Panel(
                "table",
                "Trending products (latest 10-minute window)",
                [
                    sql(
                        "SELECT product_id, category_id, view_count, compare_count, unique_users, "
                        "round(engagement_score::numeric, 2) AS engagement_score, "
                        "CASE WHEN is_final THEN 'final' ELSE 'open (partial)' END AS \"window\" "
                        "FROM trending_products WHERE $__timeFilter(window_start) "
                        "AND window_start = (SELECT max(window_start) FROM trending_products "
                        "WHERE $__timeFilter(window_start)) "
                        "ORDER BY engagement_score DESC LIMIT 10",
                        table=True,
                    )
                ],
                "The newest window in the time range; an open window's scores still change.",
            ),
            Panel(
                "table",
                "Fastest-selling products",
                [
                    sql(
                        "SELECT product_id, sum(units_sold) AS units_sold, "
                        "sum(revenue) AS revenue, "
                        "round(max(units_per_minute)::numeric, 2) AS peak_units_per_minute "
                        "FROM product_sales_velocity WHERE $__timeFilter(window_start) "
                        "GROUP BY product_id ORDER BY units_sold DESC LIMIT 10",
                        table=True,
                    )
                ],
            ),
            Panel(
                "table",
                "Restock alerts",
                [
                    sql(
                        'SELECT alert_generated_at AS "time", product_id, country, units_sold, '
                        "round(units_per_minute::numeric, 2) AS units_per_minute, "
                        "threshold_per_minute FROM restock_alerts "
                        "WHERE $__timeFilter(window_start) "
                        "ORDER BY alert_generated_at DESC LIMIT 50",
                        table=True,
                    )
                ],
                "Products selling at least the threshold per minute in a country.",
            ),
            Panel(
                "table",
                "High-demand alerts",
                [
                    sql(
                        'SELECT alert_generated_at AS "time", product_id, units_sold, '
                        "transaction_count, threshold FROM high_demand_alerts "
                        "WHERE $__timeFilter(window_start) "
                        "ORDER BY alert_generated_at DESC LIMIT 50",
                        table=True,
                    )
                ],
            ),
            Panel(
                "table",
                "Top searches",
                [
                    sql(
                        "SELECT search_query, sum(search_count) AS searches, "
                        "sum(unique_users) AS users FROM search_behavior "
                        "WHERE $__timeFilter(window_start) GROUP BY search_query "
                        "ORDER BY searches DESC LIMIT 10",
                        table=True,
                    )
                ],
            ),
            Panel(
                "bargauge",
                "Category views",
                [
                    sql(
                        'SELECT category_id, sum(view_count) AS "views" FROM category_performance '
                        "WHERE $__timeFilter(window_start) GROUP BY category_id "
                        "ORDER BY 2 DESC LIMIT 10",
                        table=True,
                    )
                ],
                options={
                    "orientation": "horizontal",
                    "displayMode": "gradient",
                    "reduceOptions": {"calcs": [], "fields": "", "values": True},
                },
            ),
        ],
        annotations=[
            annotation("Open window (partial)", open_windows, "orange"),
            annotation("Critical alerts", critical, "red"),
        ],
        time_from="now-3h",
    )


DASHBOARDS = {
    "system-health": system_health,
    "data-ingestion": data_ingestion,
    "stream-processing": stream_processing,
    "business-metrics": business_metrics,
}
