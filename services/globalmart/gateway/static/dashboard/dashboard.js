// GlobalMart live dashboard: fetches the REST tables, subscribes to the SSE streams, draws.
//
// Every number comes from one public table of /api/v1 (the card's footer links to the exact
// request), so a reader can follow it to its SQL table, stream job and Avro schema by name.
// Time range: live (the last 15 min .. 24 h, sliding) or pinned with ?from=...&to=... (ISO, UTC).
// Live updates: /api/v1/live/metrics pushes the newest sales_per_minute and anomaly_stats rows,
// /api/v1/live/alerts new alerts; either also triggers a (throttled) refresh of the other cards,
// and a timer refreshes every ?refresh= seconds (default 15) so windows slide.

import {
  ago,
  clock,
  compareDecimals,
  count,
  decimalText,
  divideDecimal,
  money,
  number,
  percent,
  stamp,
  sumDecimals,
} from "./format.js";

const API = "/api/v1";
const SPANS = { "15m": 15, "1h": 60, "6h": 360, "24h": 1440 };
const MAX_ROWS = { window: 5000, country: 20000, alerts: 200, list: 10 };
const MIN_REFRESH_GAP_MS = 2000;
const COLORS = {
  accent: "#0b6bcb",
  accentLight: "rgba(11, 107, 203, 0.28)",
  second: "#8a4fd1",
  secondLight: "rgba(138, 79, 209, 0.28)",
  bad: "#b3261e",
  badLight: "rgba(179, 38, 30, 0.25)",
  warn: "#d08300",
  warnLight: "rgba(208, 131, 0, 0.25)",
  grid: "#eef1f5",
};

const params = new URLSearchParams(location.search);
const state = {
  mode: params.has("from") ? "pinned" : "live",
  span: SPANS[params.get("range")] ? params.get("range") : "1h",
  from: null,
  to: null,
  refreshSeconds: Math.max(1, Number(params.get("refresh")) || 15),
  sales: new Map(), // window_start -> sales_per_minute row
  anomalyStats: new Map(), // window_start -> anomaly_stats row
  carts: [],
  countries: [],
  alerts: new Map(), // dedup_key -> alerts row
  alertsTruncated: false,
  liveAlertKeys: new Set(),
  refreshes: 0,
  liveEvents: 0,
  errors: [],
  values: {}, // what the tiles show, for tests and the curious (window.gmDashboard.state.values)
};
const charts = {};

// ---------------------------------------------------------------- range and fetching

function computeRange() {
  if (state.mode === "pinned") {
    state.from = new Date(params.get("from"));
    state.to = params.has("to") ? new Date(params.get("to")) : null;
    if (Number.isNaN(state.from.getTime()) || (state.to && Number.isNaN(state.to.getTime()))) {
      throw new Error("from/to must be ISO-8601 times, e.g. 2026-11-24T10:00:00Z");
    }
  } else {
    const minute = 60_000;
    state.from = new Date(Math.floor((Date.now() - SPANS[state.span] * minute) / minute) * minute);
    state.to = null; // open-ended: windows still being written show up
  }
}

function rangeQuery() {
  const parts = [`from=${state.from.toISOString()}`];
  if (state.to) parts.push(`to=${state.to.toISOString()}`);
  return parts.join("&");
}

function inRange(iso) {
  const t = Date.parse(iso);
  return t >= state.from.getTime() && (!state.to || t < state.to.getTime());
}

function rangeEnd() {
  return state.to ? state.to.getTime() : Math.ceil(Date.now() / 60_000) * 60_000;
}

/** Every row of a table query, following `page.next`, up to maxRows. */
async function fetchRows(table, query, maxRows) {
  let url = `${API}/${table}?${query}`;
  linkSource(table, url);
  const rows = [];
  let truncated = false;
  while (url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${table}: HTTP ${response.status} ${await response.text()}`);
    const body = await response.json();
    rows.push(...body.data);
    url = body.page.next;
    if (url && rows.length >= maxRows) {
      truncated = true;
      break;
    }
  }
  rows.truncated = truncated;
  return rows;
}

async function fetchJson(url, acceptStatus = [200]) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!acceptStatus.includes(response.status)) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function linkSource(table, url) {
  for (const a of document.querySelectorAll(`[data-source="${table}"] a.src`)) {
    a.href = url;
    a.title = `GET ${url}`;
  }
}

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") el.className = value;
    else el.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function setTile(id, text, value, sub) {
  const tile = document.getElementById(id);
  const output = tile.querySelector(".value");
  output.textContent = text;
  output.dataset.value = value === null || value === undefined ? "" : String(value);
  if (sub !== undefined) tile.querySelector(".sub").textContent = sub;
  state.values[id] = { text, value: output.dataset.value };
}

/** Fill a card's table: `cells(row)` gives [text, className?] pairs. */
function fillTable(cardId, rows, cells, rowClass = () => undefined) {
  const body = document.querySelector(`#${cardId} tbody`);
  const columns = document.querySelectorAll(`#${cardId} thead th`).length;
  body.replaceChildren();
  if (!rows.length) {
    body.append(h("tr", {}, h("td", { colspan: columns, class: "empty" }, "no rows in range")));
    return;
  }
  for (const row of rows) {
    const tr = h("tr", { class: rowClass(row) });
    for (const cell of cells(row)) {
      const [text, cls, title] = Array.isArray(cell) ? cell : [cell];
      tr.append(h("td", { class: cls, title: title ?? text }, text ?? "–"));
    }
    body.append(tr);
  }
}

function cardError(cardId, error) {
  const card = document.getElementById(cardId);
  let note = card.querySelector(".card-error");
  if (!note) {
    note = h("p", { class: "empty card-error" });
    card.insertBefore(note, card.querySelector("footer"));
  }
  note.textContent = `could not load: ${error.message || error}`;
}

function clearCardError(cardId) {
  document.getElementById(cardId)?.querySelector(".card-error")?.remove();
}

// ---------------------------------------------------------------- charts

const chartsAvailable = typeof window.Chart === "function";

function timeAxis() {
  const spanMinutes = (rangeEnd() - state.from.getTime()) / 60_000;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];
  const step = steps.find((s) => spanMinutes / s <= 8) ?? 1440;
  const stepMs = step * 60_000;
  return {
    type: "linear",
    min: state.from.getTime(),
    max: rangeEnd(),
    grid: { color: COLORS.grid },
    // Ticks on whole UTC minutes (multiples of the step), not on the range's start.
    afterBuildTicks: (axis) => {
      const ticks = [];
      for (let t = Math.ceil(axis.min / stepMs) * stepMs; t <= axis.max; t += stepMs) ticks.push({ value: t });
      axis.ticks = ticks;
    },
    ticks: { callback: (v) => clock(v), maxRotation: 0, autoSkip: false },
  };
}

function baseOptions(extra = {}) {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "nearest", axis: "x", intersect: false },
    plugins: {
      legend: { display: true, position: "top", align: "end", labels: { boxWidth: 12 } },
      tooltip: {
        callbacks: {
          title: (items) => (items.length ? `${clock(items[0].parsed.x)} UTC` : ""),
        },
      },
    },
    ...extra,
  };
}

function ensureChart(id, config) {
  if (!chartsAvailable) {
    const box = document.getElementById(id).parentElement;
    if (!box.querySelector(".empty")) {
      box.append(h("div", { class: "empty" }, "charts unavailable: /static/vendor/charts.js missing"));
    }
    return null;
  }
  if (!charts[id]) charts[id] = new window.Chart(document.getElementById(id), config);
  return charts[id];
}

function showEmpty(id, empty) {
  const box = document.getElementById(id).parentElement;
  const note = box.querySelector(".empty");
  if (empty && !note) box.append(h("div", { class: "empty" }, "no rows in range"));
  if (!empty && note && chartsAvailable) note.remove();
}

/** Open windows (is_final = false): lighter bars, hollow points and dashed line segments. */
function openStyle(points, solid, light) {
  return {
    backgroundColor: points.map((p) => (p.open ? light : solid)),
    borderColor: solid,
    borderWidth: points.map((p) => (p.open ? 1.5 : 0)),
  };
}

function lineDataset(label, points, color) {
  return {
    type: "line",
    label,
    data: points,
    borderColor: color,
    backgroundColor: color,
    borderWidth: 2,
    pointRadius: points.map((p) => (p.open ? 4 : 2)),
    pointBackgroundColor: points.map((p) => (p.open ? "#fff" : color)),
    pointBorderColor: color,
    spanGaps: false,
    segment: { borderDash: (ctx) => (points[ctx.p1DataIndex]?.open ? [5, 4] : undefined) },
  };
}

function updateChart(id, datasets, options) {
  const chart = ensureChart(id, { type: "bar", data: { datasets: [] }, options });
  showEmpty(id, datasets.every((d) => d.data.length === 0));
  if (!chart) return;
  chart.options = options;
  chart.data.datasets = datasets;
  chart.update("none");
}

// ---------------------------------------------------------------- renderers

function renderSales() {
  const rows = [...state.sales.values()].sort((a, b) => a.window_start.localeCompare(b.window_start));
  const open = rows.filter((r) => !r.is_final);
  const revenue = sumDecimals(rows.map((r) => r.total_revenue));
  const orders = rows.reduce((n, r) => n + r.transaction_count, 0);
  const units = rows.reduce((n, r) => n + r.units_sold, 0);
  const openRevenue = sumDecimals(open.map((r) => r.total_revenue));
  const openNote = open.length
    ? `incl. open window ${open.map((r) => clock(r.window_start)).join(", ")}: ${money(openRevenue)}`
    : `${rows.length} windows, all final`;
  setTile("tile-revenue", rows.length ? money(revenue) : "–", rows.length ? decimalText(revenue) : null, openNote);
  setTile("tile-orders", rows.length ? count(orders) : "–", rows.length ? orders : null, `${count(units)} units sold`);
  const aov = orders ? divideDecimal(revenue, orders, 2) : null;
  setTile("tile-aov", aov ? money(aov) : "–", aov ? decimalText(aov) : null);

  const points = rows.map((r) => ({ x: Date.parse(r.window_start), y: Number(r.total_revenue), open: !r.is_final }));
  updateChart(
    "chart-revenue",
    [
      {
        type: "bar",
        label: "revenue (USD)",
        data: points,
        ...openStyle(points, COLORS.accent, COLORS.accentLight),
        maxBarThickness: 28,
        barPercentage: 0.9,
        categoryPercentage: 1,
      },
    ],
    baseOptions({
      scales: {
        x: timeAxis(),
        y: { beginAtZero: true, grid: { color: COLORS.grid }, ticks: { callback: (v) => `$${number(v, 0)}` } },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? `${clock(items[0].parsed.x)} UTC` : ""),
            label: (item) => {
              const row = rows[item.dataIndex];
              return `${money(sumDecimals([row.total_revenue]))}${row.is_final ? "" : " (open window)"}`;
            },
          },
        },
      },
    }),
  );
  const orderPoints = rows.map((r) => ({ x: Date.parse(r.window_start), y: r.transaction_count, open: !r.is_final }));
  const customerPoints = rows.map((r) => ({ x: Date.parse(r.window_start), y: r.unique_customers, open: !r.is_final }));
  updateChart(
    "chart-orders",
    [lineDataset("orders", orderPoints, COLORS.accent), lineDataset("customers (approx.)", customerPoints, COLORS.second)],
    baseOptions({ scales: { x: timeAxis(), y: { beginAtZero: true, grid: { color: COLORS.grid } } } }),
  );
}

function renderCarts() {
  const windows = new Map();
  for (const r of state.carts) {
    const w = windows.get(r.window_start) ?? { sessions: 0, checkouts: 0, abandons: 0, open: false };
    w.sessions += r.session_count;
    w.checkouts += r.checkout_count;
    w.abandons += r.abandon_count;
    w.open ||= !r.is_final;
    windows.set(r.window_start, w);
  }
  const totals = [...windows.values()].reduce(
    (t, w) => ({ sessions: t.sessions + w.sessions, checkouts: t.checkouts + w.checkouts, abandons: t.abandons + w.abandons }),
    { sessions: 0, checkouts: 0, abandons: 0 },
  );
  const conversion = totals.sessions ? totals.checkouts / totals.sessions : null;
  const ended = totals.checkouts + totals.abandons;
  const abandonment = ended ? totals.abandons / ended : null;
  setTile("tile-conversion", percent(conversion), conversion, `${count(totals.checkouts)} checkouts of ${count(totals.sessions)} cart sessions`);
  setTile("tile-abandonment", percent(abandonment), abandonment, `${count(totals.abandons)} abandoned, ${count(totals.checkouts)} checked out`);

  const keys = [...windows.keys()].sort();
  const conv = keys.map((k) => {
    const w = windows.get(k);
    return { x: Date.parse(k), y: w.sessions ? (100 * w.checkouts) / w.sessions : null, open: w.open };
  });
  const aband = keys.map((k) => {
    const w = windows.get(k);
    const n = w.checkouts + w.abandons;
    return { x: Date.parse(k), y: n ? (100 * w.abandons) / n : null, open: w.open };
  });
  updateChart(
    "chart-carts",
    [lineDataset("conversion %", conv, COLORS.accent), lineDataset("cart abandonment %", aband, COLORS.warn)],
    baseOptions({
      scales: { x: timeAxis(), y: { beginAtZero: true, suggestedMax: 100, grid: { color: COLORS.grid }, ticks: { callback: (v) => `${v}%` } } },
    }),
  );
}

function renderAnomalyStats() {
  const rows = [...state.anomalyStats.values()].sort((a, b) => a.window_start.localeCompare(b.window_start));
  const highValue = rows.reduce((n, r) => n + r.high_value_count, 0);
  const highQuantity = rows.reduce((n, r) => n + r.high_quantity_count, 0);
  const purchases = rows.reduce((n, r) => n + r.transaction_count, 0);
  const total = highValue + highQuantity;
  setTile(
    "tile-anomalies",
    rows.length ? count(total) : "–",
    rows.length ? total : null,
    `${count(highValue)} high value · ${count(highQuantity)} high quantity · ${purchases ? percent(total / purchases) : "–"} of purchases`,
  );
  const hv = rows.map((r) => ({ x: Date.parse(r.window_start), y: r.high_value_count, open: !r.is_final }));
  const hq = rows.map((r) => ({ x: Date.parse(r.window_start), y: r.high_quantity_count, open: !r.is_final }));
  updateChart(
    "chart-anomalies",
    [
      { type: "bar", label: "high value", data: hv, ...openStyle(hv, COLORS.bad, COLORS.badLight), maxBarThickness: 28, stack: "a" },
      { type: "bar", label: "high quantity", data: hq, ...openStyle(hq, COLORS.warn, COLORS.warnLight), maxBarThickness: 28, stack: "a" },
    ],
    baseOptions({
      scales: { x: { ...timeAxis(), stacked: true }, y: { beginAtZero: true, stacked: true, grid: { color: COLORS.grid }, ticks: { precision: 0 } } },
    }),
  );
}

function countryTotals() {
  const byCountry = new Map();
  for (const r of state.countries) {
    const list = byCountry.get(r.country) ?? [];
    list.push(r.total_revenue);
    byCountry.set(r.country, list);
  }
  return [...byCountry.entries()]
    .map(([country, values]) => ({ country, revenue: sumDecimals(values) }))
    .sort((a, b) => compareDecimals(b.revenue, a.revenue) || a.country.localeCompare(b.country));
}

function renderCountries() {
  const top = countryTotals().slice(0, 12);
  state.values.countries = top.map((c) => ({ country: c.country, revenue: decimalText(c.revenue) }));
  const labels = top.map((c) => c.country);
  const options = baseOptions({
    indexAxis: "y",
    scales: {
      x: { beginAtZero: true, grid: { color: COLORS.grid }, ticks: { callback: (v) => `$${number(v, 0)}` } },
      y: { type: "category", labels, grid: { display: false } },
    },
    plugins: {
      legend: { display: false },
      tooltip: { callbacks: { title: (items) => items[0]?.label ?? "", label: (item) => money(top[item.dataIndex].revenue) } },
    },
  });
  updateChart(
    "chart-countries",
    [{ type: "bar", label: "revenue (USD)", data: top.map((c) => Number(decimalText(c.revenue))), backgroundColor: COLORS.accent, maxBarThickness: 18 }],
    options,
  );
  const sub = state.countries.truncated ? ` (first ${count(state.countries.length)} rows)` : "";
  document.querySelector("#card-countries h2").textContent = `Revenue by country${sub}`;
}

function renderTrending(rows) {
  const sub = document.querySelector("#card-trending .sub");
  if (rows.length) {
    const r = rows[0];
    sub.textContent = `window ${clock(r.window_start)}–${clock(r.window_end)} UTC${rows.some((x) => !x.is_final) ? " (open)" : ""}`;
  } else sub.textContent = "";
  fillTable(
    "card-trending",
    rows,
    (r) => [
      [String(rows.indexOf(r) + 1)],
      [r.product_id],
      [r.category_id],
      [count(r.view_count), "num"],
      [count(r.compare_count), "num"],
      [count(r.unique_users), "num"],
      [number(r.engagement_score, 1), "num", String(r.engagement_score)],
    ],
    (r) => (r.is_final ? undefined : "open"),
  );
}

function renderAlerts() {
  const card = document.getElementById("card-alerts");
  const list = card.querySelector("ul.alerts");
  const rows = [...state.alerts.values()].sort(
    (a, b) => b.alert_generated_at.localeCompare(a.alert_generated_at) || a.dedup_key.localeCompare(b.dedup_key),
  );
  const bySeverity = { critical: 0, warning: 0, info: 0 };
  for (const r of rows) bySeverity[r.severity] = (bySeverity[r.severity] ?? 0) + 1;
  const more = state.alertsTruncated ? "+" : "";
  card.querySelector(".sub").textContent =
    `${count(rows.length)}${more} in range: ${bySeverity.critical} critical, ${bySeverity.warning} warning, ${bySeverity.info} info`;
  state.values.alerts = { count: rows.length, ...bySeverity };
  list.replaceChildren();
  if (!rows.length) list.append(h("li", { class: "empty" }, "no alerts in range"));
  for (const r of rows.slice(0, 50)) {
    const detail = [r.alert_type, r.country, r.entity_id].filter(Boolean).join(" · ");
    list.append(
      h(
        "li",
        { "data-key": r.dedup_key, class: state.liveAlertKeys.has(r.dedup_key) ? "live" : undefined, title: r.message },
        h("time", { datetime: r.alert_generated_at }, clock(r.alert_generated_at)),
        h("span", { class: `sev ${r.severity}` }, r.severity),
        h("span", { class: "title" }, r.title, h("small", {}, detail)),
      ),
    );
  }
}

function renderLists(results) {
  if (results.hva) {
    fillTable("card-anomaly-list", results.hva, (r) => [
      [clock(r.event_time), undefined, stamp(r.event_time)],
      [r.transaction_id],
      [r.country],
      [r.payment_method],
      [money(sumDecimals([r.total_amount])), "num"],
    ]);
  }
  if (results.restock) {
    fillTable("card-restock", results.restock, (r) => [
      [`${clock(r.window_start)}–${clock(r.window_end)}`],
      [r.product_id],
      [r.country],
      [count(r.units_sold), "num"],
      [number(r.units_per_minute, 2), "num"],
      [number(r.threshold_per_minute, 2), "num"],
    ]);
  }
  if (results.demand) {
    fillTable("card-demand", results.demand, (r) => [
      [`${clock(r.window_start)}–${clock(r.window_end)}`],
      [r.product_id],
      [count(r.units_sold), "num"],
      [count(r.transaction_count), "num"],
      [count(r.threshold), "num"],
    ]);
  }
  if (results.abandoned) {
    fillTable("card-abandoned", results.abandoned, (r) => [
      [clock(r.abandoned_at), undefined, stamp(r.abandoned_at)],
      [r.user_id],
      [r.country],
      [count(r.item_count), "num"],
      [money(sumDecimals([r.cart_value])), "num"],
    ]);
  }
}

function renderPipeline(health, pipeline) {
  const card = document.getElementById("card-pipeline");
  const components = card.querySelector(".components");
  components.replaceChildren();
  if (health) {
    for (const [name, check] of Object.entries(health.checks)) {
      components.append(h("span", { class: check.ok ? "ok" : "bad", title: check.error ?? "ok" }, `${name}: ${check.ok ? "ok" : "down"}`));
    }
  }
  const live = document.getElementById("live");
  components.append(h("span", { class: live.classList.contains("on") ? "ok" : "warn" }, `live updates: ${live.textContent}`));
  if (!pipeline) return;
  components.append(
    h("span", { class: pipeline.dead_letters_last_hour ? "warn" : "ok" }, `dead letters (1 h): ${count(pipeline.dead_letters_last_hour)}`),
    h("span", { class: pipeline.progress_store.ok ? "ok" : "warn", title: pipeline.progress_store.error ?? "ok" }, `stream progress store: ${pipeline.progress_store.ok ? "ok" : "unavailable"}`),
  );
  card.querySelector(".sub").textContent = `${pipeline.queries.length} stream queries`;
  const status = (seconds) => (seconds === null ? "bad" : seconds < 120 ? "ok" : seconds < 600 ? "warn" : "bad");
  fillTable(
    "card-pipeline",
    pipeline.queries,
    (q) => [
      [q.query_name],
      [q.tables.join(", ")],
      [q.last_batch_id === null ? "–" : String(q.last_batch_id), "num"],
      [q.seconds_since_commit === null ? "never" : `${ago(q.seconds_since_commit)} ago`, `num ${status(q.seconds_since_commit)}`, q.last_commit_at ?? ""],
      [`${count(q.batches_recent)} / ${count(q.rows_recent)}`, "num"],
      [ago(q.event_time_lag_seconds), "num", q.watermark ? `watermark ${q.watermark}` : "no progress reported"],
      [number(q.input_rows_per_second, 1), "num"],
      [count(q.rows_dropped_by_watermark), `num ${q.rows_dropped_by_watermark ? "warn" : ""}`],
    ],
    (q) => undefined,
  );
  state.values.pipeline = pipeline.queries;
}

function renderRange() {
  const text = document.getElementById("range-text");
  const end = state.to ? `${stamp(state.to)} UTC` : "now";
  if (state.mode === "live") {
    text.textContent = `Live: ${stamp(state.from)} UTC → now (times in UTC); refreshed on every pushed change and every ${state.refreshSeconds} s.`;
  } else {
    text.replaceChildren(
      `Pinned range: ${stamp(state.from)} UTC → ${end} (from the page address); live events still trigger refreshes.`,
      h("a", { href: location.pathname }, "back to live"),
    );
  }
  document.getElementById("range").value = state.span;
  document.getElementById("range").disabled = state.mode === "pinned";
}

// ---------------------------------------------------------------- refresh cycle

let refreshing = null;
let pending = false;
let lastRefresh = 0;
let scheduled = null;

async function refresh() {
  if (refreshing) {
    pending = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      computeRange();
    } catch (error) {
      const text = document.getElementById("range-text");
      text.textContent = `Bad time range: ${error.message}`;
      text.classList.add("bad");
      document.body.dataset.state = "error";
      return;
    }
    renderRange();
    const q = rangeQuery();
    const jobs = {
      sales: fetchRows("sales_per_minute", `${q}&sort=window_start&limit=1000`, MAX_ROWS.window),
      anomalyStats: fetchRows("anomaly_stats", `${q}&sort=window_start&limit=1000`, MAX_ROWS.window),
      carts: fetchRows("cart_metrics", `${q}&sort=window_start&limit=1000`, MAX_ROWS.country),
      countries: fetchRows("sales_by_country", `${q}&sort=window_start&limit=1000`, MAX_ROWS.country),
      alerts: fetchRows("alerts", `${q}&sort=-alert_generated_at&limit=${MAX_ROWS.alerts}`, MAX_ROWS.alerts),
      trending: (async () => {
        const newest = await fetchRows("trending_products", `${q}&sort=-window_start&limit=1`, 1);
        if (!newest.length) return [];
        const w = newest[0];
        // Only the newest window: from its start to its end (windows are tumbling).
        return fetchRows("trending_products", `from=${w.window_start}&to=${w.window_end}&sort=-engagement_score&limit=10`, 10);
      })(),
      hva: fetchRows("high_value_anomalies", `${q}&sort=-event_time&limit=${MAX_ROWS.list}`, MAX_ROWS.list),
      restock: fetchRows("restock_alerts", `${q}&sort=-window_start&limit=${MAX_ROWS.list}`, MAX_ROWS.list),
      demand: fetchRows("high_demand_alerts", `${q}&sort=-window_start&limit=${MAX_ROWS.list}`, MAX_ROWS.list),
      abandoned: fetchRows("abandoned_carts", `${q}&sort=-abandoned_at&limit=${MAX_ROWS.list}`, MAX_ROWS.list),
      health: fetchJson("/health", [200, 503]),
      pipeline: (async () => {
        linkSource("pipeline_health", `${API}/pipeline_health`);
        return fetchJson(`${API}/pipeline_health`);
      })(),
    };
    const names = Object.keys(jobs);
    const settled = await Promise.allSettled(Object.values(jobs));
    const results = {};
    const cardOf = {
      sales: "card-revenue",
      anomalyStats: "card-anomalies",
      carts: "card-carts",
      countries: "card-countries",
      alerts: "card-alerts",
      trending: "card-trending",
      hva: "card-anomaly-list",
      restock: "card-restock",
      demand: "card-demand",
      abandoned: "card-abandoned",
      health: "card-pipeline",
      pipeline: "card-pipeline",
    };
    state.errors = [];
    settled.forEach((outcome, i) => {
      const name = names[i];
      if (outcome.status === "fulfilled") {
        results[name] = outcome.value;
        clearCardError(cardOf[name]);
      } else {
        state.errors.push(`${name}: ${outcome.reason}`);
        console.error(`dashboard: ${name} failed`, outcome.reason);
        cardError(cardOf[name], outcome.reason);
      }
    });
    if (results.sales) state.sales = new Map(results.sales.map((r) => [r.window_start, r]));
    if (results.anomalyStats) state.anomalyStats = new Map(results.anomalyStats.map((r) => [r.window_start, r]));
    if (results.carts) state.carts = results.carts;
    if (results.countries) state.countries = results.countries;
    if (results.alerts) {
      // Keep alerts pushed live that the (possibly cached) page does not have yet.
      const fresh = new Map(results.alerts.map((r) => [r.dedup_key, r]));
      for (const key of state.liveAlertKeys) {
        const row = state.alerts.get(key);
        if (row && !fresh.has(key) && inRange(row.alert_generated_at)) fresh.set(key, row);
      }
      state.alerts = fresh;
      state.alertsTruncated = results.alerts.truncated || results.alerts.length >= MAX_ROWS.alerts;
    }
    renderSales();
    renderCarts();
    renderAnomalyStats();
    renderCountries();
    renderAlerts();
    if (results.trending) renderTrending(results.trending);
    renderLists(results);
    renderPipeline(results.health, results.pipeline);
    state.refreshes += 1;
    lastRefresh = Date.now();
    document.getElementById("updated").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    document.body.dataset.refreshes = String(state.refreshes);
    document.body.dataset.state = state.errors.length ? "error" : "ready";
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
    if (pending) {
      pending = false;
      scheduleRefresh();
    }
  }
}

function scheduleRefresh() {
  if (scheduled) return;
  const wait = Math.max(0, lastRefresh + MIN_REFRESH_GAP_MS - Date.now());
  scheduled = setTimeout(() => {
    scheduled = null;
    refresh();
  }, wait);
}

// ---------------------------------------------------------------- live updates (SSE)

function setLive(text, cls) {
  const pill = document.getElementById("live");
  pill.textContent = text;
  pill.className = `pill ${cls}`;
}

function flash() {
  const pill = document.getElementById("live");
  pill.classList.remove("flash");
  void pill.offsetWidth; // restart the animation
  pill.classList.add("flash");
}

function onMetric(event) {
  state.liveEvents += 1;
  document.body.dataset.liveEvents = String(state.liveEvents);
  const row = event.data;
  if (event.table === "sales_per_minute" && inRange(row.window_start)) {
    state.sales.set(row.window_start, row);
    renderSales();
  } else if (event.table === "anomaly_stats" && inRange(row.window_start)) {
    state.anomalyStats.set(row.window_start, row);
    renderAnomalyStats();
  }
  flash();
  scheduleRefresh();
}

function onAlert(event) {
  state.liveEvents += 1;
  document.body.dataset.liveEvents = String(state.liveEvents);
  const row = event.data;
  if (inRange(row.alert_generated_at)) {
    state.alerts.set(row.dedup_key, row);
    state.liveAlertKeys.add(row.dedup_key);
    renderAlerts();
  }
  flash();
  scheduleRefresh();
}

function connect(path, eventName, handler) {
  const source = new EventSource(`${API}/live/${path}`);
  source.addEventListener(eventName, (e) => handler(JSON.parse(e.data)));
  return source;
}

function connectLive() {
  if (typeof EventSource !== "function") {
    setLive("no live updates", "off");
    return;
  }
  const sources = [connect("metrics", "metric", onMetric), connect("alerts", "alert", onAlert)];
  const update = () => {
    const open = sources.filter((s) => s.readyState === EventSource.OPEN).length;
    if (open === sources.length) setLive("live", "on");
    else setLive(open ? "partly live" : "reconnecting…", "off");
  };
  for (const s of sources) {
    s.addEventListener("open", update);
    s.addEventListener("error", update);
  }
  window.addEventListener("pagehide", () => sources.forEach((s) => s.close()));
}

// ---------------------------------------------------------------- start

document.getElementById("range").addEventListener("change", (e) => {
  state.span = e.target.value;
  const next = new URLSearchParams(location.search);
  next.set("range", state.span);
  history.replaceState(null, "", `?${next}`);
  refresh();
});

window.gmDashboard = { state, charts, refresh };
connectLive();
refresh();
setInterval(() => {
  if (!document.hidden) refresh();
}, state.refreshSeconds * 1000);
