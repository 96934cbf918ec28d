// Schema registry browser: reads /api/v1/registry/* (this gateway), no third-party code.
"use strict";
const api = "/api/v1/registry";
const $ = (id) => document.getElementById(id);
let subjects = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") node.onclick = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function renderList() {
  const needle = $("filter").value.toLowerCase();
  const list = $("subjects");
  list.replaceChildren();
  for (const s of subjects) {
    const label = `${s.group}/${s.artifact}`;
    if (needle && !label.toLowerCase().includes(needle)) continue;
    list.append(el("li", { onclick: () => showSubject(s.group, s.artifact) },
      s.artifact, el("small", {}, `${s.group} · ${s.kind || "?"}`)));
  }
}

async function showSubject(group, artifact) {
  const detail = $("detail");
  detail.replaceChildren(el("p", { class: "notice" }, "Loading…"));
  try {
    const info = await getJson(`${api}/groups/${encodeURIComponent(group)}/artifacts/${encodeURIComponent(artifact)}`);
    const versions = info.versions.map((v) => v.version);
    const rules = el("table", {}, el("tr", {}, el("th", {}, "rule"), el("th", {}, "artifact"), el("th", {}, "group"), el("th", {}, "global"), el("th", {}, "in force")));
    const names = new Set([...Object.keys(info.rules.effective), "COMPATIBILITY"]);
    for (const name of names) {
      rules.append(el("tr", {}, el("td", {}, name), el("td", {}, info.rules.artifact[name] || "–"),
        el("td", {}, info.rules.group[name] || "–"), el("td", {}, info.rules.global[name] || "–"),
        el("td", {}, info.rules.effective[name] || (name === "COMPATIBILITY" ? "NONE" : "–"))));
    }
    const pick = (id, value) => {
      const select = el("select", { id });
      for (const v of versions) select.append(el("option", { value: v }, `v${v}`));
      select.value = value;
      return select;
    };
    const from = pick("from", versions[Math.max(0, versions.length - 2)]);
    const to = pick("to", versions[versions.length - 1]);
    const schema = el("pre", {});
    const diff = el("div", {});
    const showVersion = async () => {
      const v = await getJson(`${api}/groups/${group}/artifacts/${artifact}/versions/${to.value}`);
      schema.textContent = JSON.stringify(v.schema, null, 2);
    };
    const showDiff = async () => {
      const d = await getJson(`${api}/groups/${group}/artifacts/${artifact}/diff?from=${from.value}&to=${to.value}`);
      const verdict = (ok) => el("span", { class: ok ? "ok" : "bad" }, ok ? "yes" : "no");
      const pre = el("pre", {});
      for (const line of d.unified_diff.split("\n")) {
        const cls = line.startsWith("+") ? "diff-add" : line.startsWith("-") ? "diff-del" : "";
        pre.append(el("span", { class: cls }, line + "\n"));
      }
      diff.replaceChildren(
        el("p", {}, "backward compatible: ", verdict(d.backward_compatible), " · forward compatible: ",
          verdict(d.forward_compatible), ` · rule ${d.compatibility_rule} allows it: `, verdict(d.allowed_by_rule)),
        el("p", {}, `added: ${d.added.map((f) => f.name).join(", ") || "–"} · removed: ${d.removed.map((f) => f.name).join(", ") || "–"} · changed: ${d.changed.map((f) => f.name).join(", ") || "–"}`),
        d.identical ? el("p", { class: "notice" }, "identical") : pre);
    };
    from.onchange = showDiff;
    to.onchange = () => { showVersion(); showDiff(); };
    detail.replaceChildren(
      el("h2", {}, artifact), el("p", {}, `group ${group} · versions ${versions.join(", ")}`),
      el("h3", {}, "Rules"), rules,
      el("h3", {}, "Diff"), el("p", {}, "from ", from, " to ", to), diff,
      el("h3", {}, "Schema"), schema);
    await Promise.all([showVersion(), showDiff()]);
  } catch (error) {
    detail.replaceChildren(el("p", { class: "bad" }, String(error.message || error)));
  }
}

async function main() {
  $("filter").oninput = renderList;
  try {
    subjects = await getJson(`${api}/subjects`);
    renderList();
  } catch (error) {
    $("subjects").replaceChildren(el("li", { class: "bad" }, String(error.message || error)));
  }
}
main();
