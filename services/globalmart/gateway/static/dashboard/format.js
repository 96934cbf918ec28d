// Exact decimals and the dashboard's number formats.
//
// The API sends decimals (money) as strings so no cent is lost to floating point: sums and
// averages here are done on BigInt units, rounded half-up to cents only for display, so a tile
// shows exactly what summing the API's rows gives. Formats are fixed (no locale), in UTC.

/** A decimal string ("123.45") as {units: BigInt, scale}: value = units / 10^scale. */
export function parseDecimal(text) {
  let s = String(text).trim();
  const negative = s.startsWith("-");
  if (negative || s.startsWith("+")) s = s.slice(1);
  const [whole, fraction = ""] = s.split(".");
  if (!/^\d*$/.test(whole) || !/^\d*$/.test(fraction)) throw new Error(`not a decimal: ${text}`);
  const units = BigInt((whole || "0") + fraction);
  return { units: negative ? -units : units, scale: fraction.length };
}

function rescale(d, scale) {
  return d.units * 10n ** BigInt(scale - d.scale);
}

/** Exact sum of decimal strings (or parsed decimals). */
export function sumDecimals(values) {
  const parsed = values.map((v) => (typeof v === "object" ? v : parseDecimal(v)));
  const scale = Math.max(0, ...parsed.map((d) => d.scale));
  return { units: parsed.reduce((acc, d) => acc + rescale(d, scale), 0n), scale };
}

/** -1, 0 or 1 as a < b, a == b, a > b (exactly). */
export function compareDecimals(a, b) {
  const scale = Math.max(a.scale, b.scale);
  const x = rescale(a, scale);
  const y = rescale(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** d / divisor rounded half-up (away from zero) to `scale` digits; null when divisor is 0. */
export function divideDecimal(d, divisor, scale = 2) {
  const den = 10n ** BigInt(d.scale) * BigInt(divisor);
  if (den === 0n) return null;
  const num = d.units * 10n ** BigInt(scale);
  let q = num / den;
  const r = num % den;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice >= (den < 0n ? -den : den)) q += (num < 0n) !== (den < 0n) ? -1n : 1n;
  return { units: q, scale };
}

/** Plain decimal text, e.g. "1234.50". */
export function decimalText(d) {
  const negative = d.units < 0n;
  const digits = (negative ? -d.units : d.units).toString().padStart(d.scale + 1, "0");
  const whole = digits.slice(0, digits.length - d.scale);
  const fraction = d.scale ? "." + digits.slice(digits.length - d.scale) : "";
  return (negative ? "-" : "") + whole + fraction;
}

function groupThousands(whole) {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "$1,234.57": rounded half-up to cents. */
export function money(d) {
  if (d === null || d === undefined) return "–";
  const text = decimalText(divideDecimal(d, 1, 2));
  const negative = text.startsWith("-");
  const [whole, fraction] = (negative ? text.slice(1) : text).split(".");
  return `${negative ? "-" : ""}$${groupThousands(whole)}.${fraction}`;
}

/** "12,345" for whole counts. */
export function count(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return groupThousands(String(Math.round(n)));
}

/** "12.3%" for a ratio 0.123. */
export function percent(ratio) {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "–";
  return `${(ratio * 100).toFixed(1)}%`;
}

/** A number with at most `digits` decimals, thousands grouped ("1,234.5"). */
export function number(n, digits = 1) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const [whole, fraction] = n.toFixed(digits).split(".");
  const grouped = whole.startsWith("-") ? "-" + groupThousands(whole.slice(1)) : groupThousands(whole);
  return fraction && Number(fraction) !== 0 ? `${grouped}.${fraction.replace(/0+$/, "")}` : grouped;
}

/** "14:05" (UTC) from an ISO time or epoch ms. */
export function clock(value) {
  return new Date(value).toISOString().slice(11, 16);
}

/** "2026-11-24 14:05" (UTC). */
export function stamp(value) {
  return new Date(value).toISOString().slice(0, 16).replace("T", " ");
}

/** "42 s", "3 min", "2.5 h" for a duration in seconds. */
export function ago(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${Math.round(seconds / 86400)} d`;
}
