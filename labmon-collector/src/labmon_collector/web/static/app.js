"use strict";
// The status page: plain JavaScript, no build step. Pages poll small JSON documents from the collector
// and update what they show in place, so a hover, a scroll position or keyboard focus survives a poll.
let meta = { interval: 60, csrf: "", can_act: false };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}
async function api(path, options) {
  const answer = await fetch(path, { cache: "no-store", ...options });
  const data = await answer.json();
  if (!answer.ok) throw Object.assign(new Error(data.error || answer.status), { status: answer.status });
  return data;
}

// Numbers with SI prefixes where the unit takes them (1.2 µs, 350 mV), else 4 significant digits.
const SI_UNITS = new Set(["V", "A", "s", "Hz", "W", "Ω", "ohm", "m", "Pa", "F", "H", "T", "J", "N", "C", "S", "K", "g", "lx", "Wb"]);
const PREFIXES = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "µ"], [1e-9, "n"], [1e-12, "p"], [1e-15, "f"]];
function num(v) {
  if (v == null || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(2).replace("e", "e") : String(+v.toPrecision(4));
}
function prefixFor(magnitude) {
  return PREFIXES.find(([size]) => magnitude >= size * 0.9995) || PREFIXES[PREFIXES.length - 1];
}
function siParts(v, unit = "", magnitude = null) {
  if (v == null || Number.isNaN(v)) return ["–", unit || ""];
  if (!SI_UNITS.has(unit)) return [num(v), unit || ""];
  const [size, prefix] = v === 0 && magnitude == null ? [1, ""] : prefixFor(magnitude ?? Math.abs(v));
  return [String(+(v / size).toPrecision(4)), prefix + unit];
}
const si = (v, unit = "", magnitude = null) => siParts(v, unit, magnitude).join(" ").trim();

// Times: absolute, in the browser's time zone, with the zone named.
const stamp = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit",
  minute: "2-digit", second: "2-digit", timeZoneName: "short" });
const when = (t) => (t == null ? "–" : stamp.format(new Date(t * 1000)));
function ago(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return "–";
  if (seconds < 90) return Math.max(0, Math.round(seconds)) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  if (seconds < 172800) return Math.round(seconds / 3600) + " h ago";
  return Math.round(seconds / 86400) + " d ago";
}
const seriesLink = (key) => el("a", { href: "/series?s=" + encodeURIComponent(key) }, key);

// The collector's clock as last heard, run on by this one: ages keep counting when the collector is silent.
const link = { now: null, heardAt: 0, error: null, collector: null };
const serverNow = () => (link.now == null ? Date.now() / 1000 : link.now + (performance.now() - link.heardAt) / 1000);
function heard(now) { link.now = now; link.heardAt = performance.now(); }

function banner() {
  const box = document.getElementById("banner"), c = link.collector;
  let text = "";
  if (c && c.stopped_at != null) text = `Collector stopped since ${when(c.stopped_at)}.`;
  else if (link.error) text = `Cannot reach the collector: ${link.error}.`;
  else if (c && c.last_cycle_at == null) text = "The collector has not finished a cycle yet.";
  else if (c && serverNow() - c.last_cycle_at > 2 * c.interval) text = "The collector is late: no cycle for " + ago(serverNow() - c.last_cycle_at).replace(" ago", "") + ".";
  const stale = text !== "";
  if (stale && c && c.last_cycle_at != null) text += ` Last cycle ${when(c.last_cycle_at)} (${ago(serverNow() - c.last_cycle_at)}): what this page shows may no longer be true.`;
  box.hidden = !stale;
  if (box.textContent !== text) box.textContent = text;
  document.body.classList.toggle("stale", stale);
  notices(c);
}
// What the collector knows that changes how to read the page: its role in a pair, measurers' clocks that are off.
function notices(c) {
  const box = document.getElementById("notices"), lines = [];
  if (c && c.failover) lines.push(`This collector (${c.failover.node}) is ${c.failover.role}.`);
  const doubles = (c && c.failover && c.failover.double_sent) || [];
  if (doubles.length) lines.push(`Notified by both collectors of the pair: ${doubles.join("; ")}.`);
  const resent = Object.entries((c && c.resent) || {}).map(([target, n]) => `${target} ${n}`);
  if (resent.length) lines.push(`Sent again after a restart, possibly repeats: ${resent.join(", ")}.`);
  for (const [measurer, offset] of Object.entries((c && c.clock_offsets) || {})) {
    const off = ago(Math.abs(offset)).replace(" ago", "");
    lines.push(`Measurer ${measurer}'s clock is ${off} ${offset > 0 ? "ahead" : "behind"}; its readings are filed on the collector's clock.`);
  }
  const text = lines.join(" ");
  box.hidden = !text;
  if (box.textContent !== text) box.textContent = text;
}
function tick() {
  for (const node of document.querySelectorAll("[data-at]")) {
    const text = ago(serverNow() - Number(node.dataset.at));
    if (node.textContent !== text) node.textContent = text;
  }
  banner();
}

function sparkPath(t, v) {
  const values = v.filter((x) => x != null);
  if (values.length < 2) return "";
  const lo = Math.min(...values), hi = Math.max(...values), t0 = t[0], span = t[t.length - 1] - t0 || 1;
  let d = "", pen = "M";
  t.forEach((time, i) => {
    if (v[i] == null) { pen = "M"; return; }
    const x = ((time - t0) / span) * 100, y = hi === lo ? 50 : 95 - ((v[i] - lo) / (hi - lo)) * 90;
    d += `${pen}${x.toFixed(2)},${y.toFixed(2)} `;
    if (pen === "M" && v[i + 1] == null) d += `L${(x + 0.01).toFixed(2)},${y.toFixed(2)} `;  // alone between gaps: a dot
    pen = "L";
  });
  return d;
}

// A selector as rules write it (measurer[/instrument[/reading]], * ? [..]); fewer parts select everything below.
function selectorTest(selector) {
  const text = selector.trim();
  if (!text) return () => true;
  const parts = text.split("/").length;
  let source = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      const end = text.indexOf("]", i + 2);
      if (end < 0) { source += "\\["; continue; }
      let body = text.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (body[0] === "!") body = "^" + body.slice(1);
      source += "[" + body + "]";
      i = end;
    } else source += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  let re;
  try { re = new RegExp("^" + source + "$"); } catch { return null; }  // e.g. [z-a]: not a selector
  return (key) => re.test(key.split("/").slice(0, parts).join("/"));
}

// Overview: firing and pending first, then one collapsible group per measurer; a filter; counts.
const RANK = { firing: 0, pending: 1, error: 2, offline: 3, missing: 4, silenced: 5, ok: 6 };
const ATTENTION = new Set(["firing", "pending"]);
const overviewState = { since: "", tiles: new Map(), nodes: new Map(), keys: [] };
function collapsed() { try { return new Set(JSON.parse(localStorage.getItem("labmon.collapsed") || "[]")); } catch { return new Set(); } }
function tileNode(key) {
  let node = overviewState.nodes.get(key);
  if (node) return node;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 100");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  svg.append(document.createElementNS("http://www.w3.org/2000/svg", "path"));
  node = el("a", { class: "tile", href: "/series?s=" + encodeURIComponent(key), "data-series": key },
    el("div", { class: "name" }, key),
    el("div", {}, el("span", { class: "value" }), el("span", { class: "unit" })),
    el("div", { class: "foot" }, el("span", { class: "badge" }), el("span", { class: "lock", hidden: "" }),
      el("span", { class: "muted age" })), svg);
  overviewState.nodes.set(key, node);
  return node;
}
function drawTile(node, tile) {
  node.className = "tile state-" + tile.state;
  node.dataset.state = tile.state;
  node.title = tile.error || "";
  const [value, unit] = tile.state === "error" ? ["error", tile.unit] : siParts(tile.value, tile.unit);
  node.querySelector(".value").textContent = value;
  node.querySelector(".unit").textContent = unit;
  node.querySelector(".badge").textContent = tile.state;
  const age = node.querySelector(".age");
  if (tile.at == null) delete age.dataset.at; else age.dataset.at = tile.at;
  node.querySelector("path").setAttribute("d", sparkPath(tile.spark[0], tile.spark[1]));
  drawLock(node.querySelector(".lock"), tile.health);
}
// The last 7 days under the rule the series fared worst by, coloured as the series page's strip.
function drawLock(lock, h) {
  lock.hidden = !h;
  if (!h) return;
  const look = healthLook(h), span = h.until - h.since || 1;
  lock.textContent = look.known ? `7 d ${(100 * h.uptime).toFixed(1)}% · ${h.excursions} exc` : "7 d unknown";
  lock.style.background = look.colour;
  lock.title = `last 7 days under rule ${h.rule}: ${(100 * h.uptime).toFixed(1)}% within bounds, ` +
    `${(100 * h.out / span).toFixed(1)}% out, ${(100 * h.unknown / span).toFixed(1)}% unknown, ${h.excursions} excursions` +
    (h.longest != null ? `, longest ${Math.round(h.longest / 60)} min` : "");
  lock.setAttribute("aria-label", lock.title);
}
function place(container, nodes) {
  nodes.forEach((node, i) => { if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null); });
  while (container.children.length > nodes.length) container.lastElementChild.remove();
}
function groupNode(groups, measurer) {
  let group = groups.querySelector(`details[data-measurer="${CSS.escape(measurer)}"]`);
  if (group) return group;
  group = el("details", { "data-measurer": measurer }, el("summary", {}, el("span", { class: "group-name" }, measurer), " ",
    el("span", { class: "muted group-count" })), el("div", { class: "tiles" }));
  group.open = !collapsed().has(measurer);
  group.addEventListener("toggle", () => {
    const closed = collapsed();
    if (group.open) closed.delete(measurer); else closed.add(measurer);
    localStorage.setItem("labmon.collapsed", JSON.stringify([...closed]));
  });
  return group;
}
function countText(tiles) {
  const counts = {};
  for (const tile of tiles) counts[tile.state] = (counts[tile.state] || 0) + 1;
  const parts = ["firing", "pending", "error", "offline", "missing", "silenced"].filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
  return { counts, text: [...parts, `${tiles.length} series`].join(" · ") };
}
function setCounts(firing, text) {
  document.title = firing ? `(${firing}) labmon` : "labmon";
  document.getElementById("counts").textContent = text;
}

async function overview(app) {
  const data = await api("/api/overview?since=" + encodeURIComponent(overviewState.since));
  heard(data.now);
  link.collector = data.collector;
  const state = overviewState;
  if (data.full) state.tiles.clear();
  for (const tile of data.tiles) state.tiles.set(tile.series, tile);
  const keep = new Set(data.keys);
  for (const key of [...state.tiles.keys()]) if (!keep.has(key)) { state.tiles.delete(key); state.nodes.delete(key); }
  state.since = data.since;
  for (const tile of data.tiles) drawTile(tileNode(tile.series), tile);

  if (!app.querySelector("#groups")) {
    const filter = el("input", { id: "filter", type: "search", placeholder: "table1/*/lock_error", spellcheck: "false",
      "aria-describedby": "filter-help", value: new URLSearchParams(location.search).get("q") || "" });
    filter.addEventListener("input", () => {
      const q = new URLSearchParams(location.search);
      if (filter.value) q.set("q", filter.value); else q.delete("q");
      history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q : ""));
      overviewLayout(app);
    });
    app.replaceChildren(
      el("div", { class: "toolbar" }, el("label", { for: "filter" }, "Filter"), filter,
        el("span", { id: "filter-help", class: "muted" }, "a rule's selector: measurer/instrument/reading, * ? [..]"),
        el("span", { id: "shown", class: "muted", "aria-live": "polite" })),
      el("section", { id: "attention", "aria-label": "Firing and pending" }),
      el("div", { id: "groups" }), el("p", { id: "empty", class: "muted", hidden: "" }, "No readings stored yet."));
  }
  overviewLayout(app);
}
function overviewLayout(app) {
  const filter = app.querySelector("#filter"), test = selectorTest(filter.value), match = test || (() => false);
  const state = overviewState;
  filter.setAttribute("aria-invalid", String(!test));
  const all = [...state.tiles.values()];
  const shown = all.filter((t) => match(t.series)).sort((a, b) => (RANK[a.state] ?? 9) - (RANK[b.state] ?? 9) || (a.series < b.series ? -1 : 1));
  const attention = shown.filter((t) => ATTENTION.has(t.state));
  const byMeasurer = new Map();
  for (const tile of shown) if (!ATTENTION.has(tile.state)) {
    if (!byMeasurer.has(tile.measurer)) byMeasurer.set(tile.measurer, []);
    byMeasurer.get(tile.measurer).push(tile);
  }
  const section = app.querySelector("#attention");
  section.hidden = attention.length === 0;
  if (!section.querySelector(".tiles")) section.append(el("h2", {}, "Firing and pending"), el("div", { class: "tiles" }));
  place(section.querySelector(".tiles"), attention.map((t) => tileNode(t.series)));
  const groups = app.querySelector("#groups");
  const names = [...byMeasurer.keys()].sort();
  place(groups, names.map((name) => {
    const group = groupNode(groups, name), tiles = byMeasurer.get(name);
    const text = countText(tiles).text;
    const count = group.querySelector(".group-count");
    if (count.textContent !== text) count.textContent = text;
    place(group.querySelector(".tiles"), tiles.map((t) => tileNode(t.series)));
    return group;
  }));
  const { counts, text } = countText(all);
  setCounts(counts.firing || 0, text);
  app.querySelector("#shown").textContent = shown.length === all.length ? "" : `${shown.length} of ${all.length} shown`;
  app.querySelector("#empty").hidden = all.length > 0;
  tick();
}

function table(headers, rows, attrs = {}) {
  return el("div", { class: "scroll" }, el("table", attrs, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))))));
}
// Redraw a region only when its data changed: a poll that brings nothing new leaves focus and hover alone.
function region(node, data, build) {
  const text = JSON.stringify(data);
  if (node.dataset.drawn === text) return;
  node.dataset.drawn = text;
  node.replaceChildren(...[].concat(build()));
}

async function act(path, body) {
  await api(path, { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Labmon-Csrf": meta.csrf } });
  refresh();
}

// An Ack button on a firing alert nobody acknowledged yet (behind the page's password, as silences are).
function ackCell(a) {
  if (a.acknowledged) return a.acknowledged;
  if (a.escalated && !meta.can_act) return "escalated";
  if (a.state !== "firing" || !meta.can_act) return "–";
  const button = el("button", { class: "ack", "data-series": a.series }, a.escalated ? "Ack (escalated)" : "Ack");
  button.addEventListener("click", () => {
    const comment = prompt("Acknowledge " + a.series + ": why? (the notifiers say it)");
    if (comment !== null) act("/api/acks", { selector: a.series, comment }).catch((error) => { button.textContent = error.message; });
  });
  return button;
}

const field = (label, attrs) => el("label", {}, el("span", {}, label), el("input", attrs));
function silenceForm() {
  if (!meta.can_act) return el("p", { class: "muted" },
    "Adding a silence from the page needs the page's password ([collector.web] password); or run labmon silence add.");
  const form = el("form", { id: "silence" },
    field("Selector", { name: "selector", placeholder: "table1/laser1/*", required: "" }),
    field("For", { name: "duration", placeholder: "2h", required: "", size: "5" }),
    field("Why", { name: "comment", placeholder: "realigning" }), el("button", { type: "submit" }, "Silence"),
    el("span", { class: "error", role: "alert" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = form.querySelector(".error");
    problem.textContent = "";
    try {
      await act("/api/silences", Object.fromEntries(new FormData(form)));
      form.reset();
    } catch (error) {
      problem.textContent = error.message;  // e.g. a duration the collector cannot read: say so, keep the input
    }
  });
  return form;
}

const PAGE_ROWS = 100;
let search = { rule: "", series: "", since: "7d", limit: PAGE_ROWS };
async function alerts(app) {
  const [now, hist] = await Promise.all([api("/api/alerts"), api("/api/events?" + new URLSearchParams(search))]);
  heard(now.now);
  if (!app.querySelector("#alerts-live")) {
    const form = el("form", { id: "search" },
      field("Rule contains", { name: "rule" }), field("Series contains", { name: "series" }),
      field("Since", { name: "since", value: search.since, size: "5" }), el("button", { type: "submit" }, "Search"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      search = { ...Object.fromEntries(new FormData(form)), limit: PAGE_ROWS };
      refresh();
    });
    const more = el("button", { id: "more", type: "button", hidden: "" });
    more.addEventListener("click", () => { search.limit += PAGE_ROWS; refresh(); });
    app.replaceChildren(el("h2", {}, "Firing and pending"), el("div", { id: "alerts-live" }),
                        el("h2", {}, "Silences"), el("div", { id: "silences" }), silenceForm(),
                        el("h2", {}, "Mute windows"), el("div", { id: "mute-windows" }),
                        el("h2", {}, "Alert history"), form, el("div", { id: "history" }), more);
  }
  region(app.querySelector("#alerts-live"), [now.active, meta.can_act], () => now.active.length ? table(
    ["state", "rule", "series", "since", "value", "threshold", "silenced", "acknowledged"],
    now.active.map((a) => [el("span", { class: "badge state-" + a.state }, a.latched ? "latched" : a.state), a.rule,
      seriesLink(a.series), el("span", { title: when(a.since) }, el("span", { "data-at": a.since })), si(a.value, a.unit),
      a.threshold.map((v) => si(v, a.unit)).join(" / ") || "–", a.silenced ? "yes" : a.muted ? "muted" : a.held_back ? "held back: " + a.held_back : "no",
      ackCell(a)]), { id: "active" }) : el("p", { class: "muted", id: "active" }, "Nothing firing or pending."));
  region(app.querySelector("#silences"), now.silences, () => now.silences.length ? table(["#", "selector", "ends", "comment"],
    now.silences.map((s) => ["#" + s.id, s.selector, when(s.ends), s.comment])) : el("p", { class: "muted" }, "No silences."));
  region(app.querySelector("#mute-windows"), now.mute_windows, () => now.mute_windows.length ? table(["window", "now"],
    now.mute_windows.map((w) => [w.window, w.in_force ? "in force" : "–"]))
    : el("p", { class: "muted" }, "No mute windows ([[collector.mute_windows]])."));
  region(app.querySelector("#history"), hist.events, () => !hist.events.length ? el("p", { class: "muted", id: "events" }, "No alert events in this range.") : table(["time", "event", "rule", "series", "value", "detail"],
    hist.events.map((e) => [when(e.at), e.kind, e.rule, seriesLink(e.series), e.value == null ? "–" : si(e.value, e.unit), e.detail]),
    { id: "events" }));
  const more = app.querySelector("#more"), left = hist.total - hist.events.length;
  more.hidden = left <= 0;
  more.textContent = `${left} more (show ${Math.min(left, PAGE_ROWS)})`;
  tick();
}

async function measurers(app) {
  const data = await api("/api/measurers");
  heard(data.now);
  link.collector = data.collector;
  if (!app.querySelector("#measurers")) app.replaceChildren(el("h2", {}, "Measurers"), el("div", { id: "measurers" }));
  region(app.querySelector("#measurers"), data.measurers, () => table(["measurer", "status", "last answer", "answered", "missing", "broker"],
    data.measurers.map((m) => [m.name, el("span", { class: "badge state-" + (m.status === "online" ? "ok" : m.status === "unknown" ? "missing" : "offline") }, m.status),
      m.last_answer == null ? "never" : el("span", { title: when(m.last_answer), "data-at": m.last_answer }), m.answered, m.missing, m.broker])));
  tick();
}

// Series page: the state lives in the URL (series, range or from-to, log axis) so it can be bookmarked and shared.
const RANGES = { "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000, "1y": 31536000 };
const COLOURS = ["#90caf9", "#ffb74d", "#a5d6a7", "#f48fb1"];
let plot = null, plotShape = "", zoomedFrom = [];
const onPlot = { answers: [], first: null, since: 0, until: 0 };
/** What the plot shows now: its range functions and overlay read it, so a poll updates the plot in place. */
function seriesState() {
  const q = new URLSearchParams(location.search);
  const from = Number(q.get("from")), to = Number(q.get("to"));
  return { keys: q.getAll("s").filter(Boolean), range: RANGES[q.get("range")] ? q.get("range") : "1h",
           from: q.has("from") && from < to ? from : null, to: q.has("to") && from < to ? to : null, log: q.get("log") === "1" };
}
function setSeriesState(change, { remember = true } = {}) {
  const s = { ...seriesState(), ...change }, q = new URLSearchParams();
  for (const key of s.keys) q.append("s", key);
  if (s.from != null) { q.set("from", Math.round(s.from)); q.set("to", Math.round(s.to)); } else q.set("range", s.range);
  if (s.log) q.set("log", "1");
  if (remember && ("from" in change || "range" in change)) zoomedFrom.push(location.search);
  history.pushState(null, "", "/series?" + q);
  refresh();
}
function shownRange(s, now) {
  return s.from != null ? [s.from, s.to] : [now - RANGES[s.range], now];
}
const localInput = (t) => { const d = new Date(t * 1000); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); };
function zoomTo(from, to) { setSeriesState({ from, to }); }

function seriesControls(app) {
  const buttons = el("div", { id: "ranges", role: "group", "aria-label": "Range" }, ...Object.keys(RANGES).map((name) => {
    const b = el("button", { type: "button", "data-range": name, "aria-pressed": "false" }, name);
    b.addEventListener("click", () => setSeriesState({ range: name, from: null, to: null }));
    return b;
  }));
  const pick = el("form", { id: "picker" }, field("From", { type: "datetime-local", name: "from", required: "" }),
    field("To", { type: "datetime-local", name: "to", required: "" }), el("button", { type: "submit" }, "Show"));
  pick.addEventListener("submit", (event) => {
    event.preventDefault();
    const from = new Date(pick.from.value).getTime() / 1000, to = new Date(pick.to.value).getTime() / 1000;
    if (from < to) zoomTo(from, to);
  });
  const step = (sign) => () => {
    const [a, b] = shownRange(seriesState(), serverNow()), shift = ((b - a) / 2) * sign;
    zoomTo(a + shift, b + shift);
  };
  const nav = el("div", { class: "toolbar" }, buttons,
    ...[["earlier", "◀ Earlier", step(-1)], ["later", "Later ▶", step(1)], ["zoom-out", "Zoom out", zoomOut]].map(([id, text, go]) => {
      const b = el("button", { type: "button", id }, text);
      b.addEventListener("click", go);
      return b;
    }),
    el("label", {}, el("input", { type: "checkbox", id: "log" }), " Log axis"));
  nav.querySelector("#log").addEventListener("change", (event) => setSeriesState({ log: event.target.checked }, { remember: false }));
  const add = el("form", { id: "overlay" }, field("Overlay series", { name: "key", list: "known-series", placeholder: "table1/room/temperature" }),
    el("datalist", { id: "known-series" }), el("button", { type: "submit" }, "Add"));
  api("/api/overview").then((data) => add.querySelector("datalist").replaceChildren(
    ...data.keys.map((key) => el("option", { value: key })))).catch(() => { /* the list is a convenience */ });
  add.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = add.key.value.trim(), keys = seriesState().keys;
    if (key && !keys.includes(key)) setSeriesState({ keys: [...keys, key] }, { remember: false });
    add.reset();
  });
  const box = el("div", { id: "plot", tabindex: "0", "aria-label": "Plot: arrow keys pan, + and - zoom" });
  box.addEventListener("keydown", (event) => {
    const [a, b] = shownRange(seriesState(), serverNow()), go = {
      ArrowLeft: step(-1), ArrowRight: step(1), "-": zoomOut,
      "+": () => zoomTo(a + (b - a) / 4, b - (b - a) / 4), "=": () => zoomTo(a + (b - a) / 4, b - (b - a) / 4),
    }[event.key];
    if (go) { event.preventDefault(); go(); }
  });
  app.replaceChildren(el("h2", { id: "title" }), nav, el("div", { class: "forms" }, pick, add), el("ul", { id: "chosen" }),
    box, el("div", { id: "health" }), el("div", { id: "children" }),
    el("p", { class: "muted help" }, "Drag across the plot, turn the wheel or pinch to zoom; double-click or Zoom out to go back; " +
      "on the focused plot, arrow keys pan and + and - zoom. " +
      "Band: min to max of each bucket; dashed: thresholds; red: firing."));
}
function zoomOut() {
  const back = zoomedFrom.pop();
  if (back != null) { history.pushState(null, "", "/series" + back); refresh(); return; }
  const s = seriesState(), [a, b] = shownRange(s, serverNow()), mid = (a + b) / 2, half = b - a;
  setSeriesState({ from: mid - half, to: Math.min(serverNow(), mid + half) }, { remember: false });
}

function plotOverlay(u, first) {
  if (!first) return;
  const ctx = u.ctx, { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.fillStyle = "rgba(198, 40, 40, 0.22)";
  for (const f of first.firing) {
    const x0 = Math.max(left, u.valToPos(f.start, "x", true));
    const x1 = Math.min(left + width, u.valToPos(f.end ?? first.until, "x", true));
    if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, height);
  }
  ctx.strokeStyle = "#ef5350"; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
  for (const line of first.thresholds) {
    const y = Math.round(u.valToPos(line.value, "y0", true));  // on whole pixels: a crisp line
    if (y < top || y > top + height) continue;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
  }
  ctx.restore();
}
// The y range of one series covers every bucket's min and max (a peak is never cut off) and its thresholds.
function yRange(answer, log) {
  const cols = answer.data.slice(1), extra = answer.thresholds.map((t) => t.value);
  let values = cols.flat().concat(extra).filter((v) => v != null && Number.isFinite(v));
  if (log) values = values.filter((v) => v > 0);
  if (!values.length) return log ? [1, 10] : [0, 1];
  let lo = Math.min(...values), hi = Math.max(...values);
  if (log) return [lo / 1.5, hi * 1.5];
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  return [lo - pad, hi + pad];
}
// Ticks carry the unit with one prefix for the whole axis: 0 mV, 200 mV, 400 mV.
function axisValues(unit) {
  return (u, ticks) => {
    const magnitude = Math.max(...ticks.map(Math.abs));
    return ticks.map((v) => si(v, unit, magnitude || null));
  };
}

// Green (within bounds all the known time) to red (90 % or less); grey where over half the time is unknown.
function healthLook(f) {
  const span = (f.end ?? f.until) - (f.start ?? f.since) || 1, known = 1 - f.unknown / span;
  const hue = Math.round(120 * Math.max(0, Math.min(1, (f.uptime / (known || 1) - 0.9) / 0.1)));
  return { known: known >= 0.5, colour: known < 0.5 ? "#616161" : `hsl(${hue}, 60%, 27%)` }; // white text: AA (4.5:1)
}
// A day per cell, coloured by healthLook (unknown: no reading, error readings).
function healthStrip(strip) {
  const cells = strip.days.map((d) => {
    const span = d.end - d.start || 1;
    const text = `${new Date(d.start * 1000).toDateString()}: ${(100 * d.uptime).toFixed(1)}% within bounds, ` +
      `${(100 * d.out / span).toFixed(1)}% out, ${(100 * d.unknown / span).toFixed(1)}% unknown, ${d.excursions} excursions` +
      (d.longest != null ? `, longest ${Math.round(d.longest / 60)} min` : "");
    return el("span", { class: "day", title: text, "aria-label": text, style: `background:${healthLook(d).colour}` },
      new Date(d.start * 1000).toLocaleDateString(undefined, { weekday: "short" }));
  });
  return el("p", { class: "health", "data-rule": strip.rule }, `${strip.rule}, last 7 days: `, ...cells);
}

async function series(app) {
  const s = seriesState();
  if (!app.querySelector("#plot")) seriesControls(app);
  const now = serverNow();
  const [since, until] = shownRange(s, now);
  const answers = await Promise.all(s.keys.map((key) => {
    const q = new URLSearchParams({ s: key });
    if (s.from != null) { q.set("since", s.from); q.set("until", s.to); } else q.set("range", s.range);
    // The collector answered that it has no such series: say so on the page, not "cannot reach the collector".
    return api("/api/series?" + q).catch((error) => {
      if (error.status === 404) return { series: key, now: serverNow(), about: "the collector has no such series in its history." };
      throw error;
    });
  }));
  if (answers.length) heard(answers[0].now);
  app.querySelector("#title").textContent = s.keys.join(" + ") || "no series chosen";
  document.title = (s.keys[0] || "series") + " · labmon";
  for (const b of app.querySelectorAll("#ranges button")) {
    const on = s.from == null && b.dataset.range === s.range;
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  }
  const pick = app.querySelector("#picker");
  if (!pick.contains(document.activeElement)) {
    const [a, b] = answers[0]?.data ? [answers[0].since, answers[0].until] : [since, until];
    pick.from.value = localInput(a); pick.to.value = localInput(b);
  }
  app.querySelector("#log").checked = s.log;
  region(app.querySelector("#chosen"), s.keys, () => s.keys.length > 1 ? s.keys.map((key, i) => {
    const remove = el("button", { type: "button", "aria-label": "Remove " + key }, "×");
    remove.addEventListener("click", () => setSeriesState({ keys: s.keys.filter((k) => k !== key) }, { remember: false }));
    return el("li", {}, el("span", { class: "swatch", style: `background:${COLOURS[i % COLOURS.length]}` }), key, " ", remove);
  }) : []);
  const strips = answers[0]?.health || [];
  region(app.querySelector("#health"), strips, () => strips.map(healthStrip));
  const children = answers.flatMap((a) => a.children || []), about = answers.filter((a) => a.about);
  region(app.querySelector("#children"), [children, about.map((a) => a.about)], () => [
    ...about.map((a) => el("p", { class: "about" }, a.series + ": " + a.about)),
    ...(children.length ? [el("p", {}, "Series of this instrument or measurer:"),
      el("ul", {}, ...children.map((key) => el("li", {}, seriesLink(key))))] : [])]);
  const plotted = answers.filter((a) => a.data);
  const box = app.querySelector("#plot");
  box.hidden = plotted.length === 0;
  if (!plotted.length) { if (plot) { plot.destroy(); plot = null; plotShape = ""; } return; }
  const data = uPlot.join(plotted.map((a) => a.data));
  const shape = JSON.stringify([plotted.map((a) => [a.series, a.data.length]), s.log]);
  const first = plotted[0];
  box.dataset.points = first.data[1].filter((v) => v != null).length;
  box.dataset.thresholds = first.thresholds.length;
  box.dataset.firing = first.firing.length;
  box.dataset.resolution = first.resolution;
  box.dataset.series = plotted.length;
  Object.assign(onPlot, { answers: plotted, first, since: first.since, until: first.until });
  if (plot && plotShape === shape) {
    plot.setData(data);
    return;
  }
  if (plot) plot.destroy();
  plotShape = shape;
  plot = new uPlot(plotOptions(box, plotted, s.log), data, box);
  window.labmonPlot = plot; // for the browser tests, and for poking at in the console
  gestures(plot);
}
function plotOptions(box, plotted, log) {
  // A range longer than the history starts at the first reading, not in an empty plot.
  const scales = { x: { time: true, range: (u) => [Math.max(onPlot.since, u.data[0][0] ?? onPlot.since), onPlot.until] } };
  const axes = [{ stroke: "#aab2bd", grid: { stroke: "#2a313a" }, label: "time (" + stamp.resolvedOptions().timeZone + ")", labelSize: 20 }];
  const series = [{ value: (u, t) => (t == null ? "–" : when(t)) }];
  const bands = [];
  plotted.forEach((answer, i) => {
    const scale = "y" + i, colour = COLOURS[i % COLOURS.length], unit = answer.unit, at = series.length;
    scales[scale] = { distr: log ? 3 : 1, log: 10, range: () => yRange(onPlot.answers[i] ?? answer, log) };
    axes.push({ scale, side: i % 2 ? 1 : 3, stroke: colour, grid: { show: i === 0, stroke: "#2a313a" }, size: 78,
                values: axisValues(unit), label: answer.series.split("/").slice(1).join("/") + (unit ? ` [${unit}]` : ""), labelSize: 22,
                labelFont: "13px system-ui", font: "12px system-ui" });
    const show = (u, v) => si(v, unit);
    series.push({ label: plotted.length > 1 ? answer.series : answer.data.length > 2 ? "mean" : "value", scale, stroke: colour, width: 1.5, value: show });
    if (answer.data.length > 2) {
      series.push({ label: "min", scale, stroke: colour + "55", width: 1, value: show },
                  { label: "max", scale, stroke: colour + "55", width: 1, value: show });
      bands.push({ series: [at + 2, at + 1], fill: colour + "40" });
    }
  });
  return {
    width: Math.max(280, box.clientWidth - 16), height: Math.min(460, Math.max(240, innerHeight - 320)),
    scales, axes, series, bands,
    hooks: {
      draw: [(u) => plotOverlay(u, onPlot.first)],
      setSelect: [(u) => {
        if (u.select.width < 5) return;
        zoomTo(u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"));
      }],
    },
    cursor: { drag: { x: true, y: false, setScale: false } },
  };
}
// Wheel and pinch zoom about the pointer; double-click zooms out.
function gestures(u) {
  let pending = null;
  const zoomAt = (x, factor) => {
    const [a, b] = pending || [u.scales.x.min, u.scales.x.max];
    const at = u.posToVal(x, "x"), from = at - (at - a) * factor, to = at + (b - at) * factor;
    pending = [from, Math.min(to, serverNow() + (to - from) * 0.02)];
    u.setScale("x", { min: pending[0], max: pending[1] });
    clearTimeout(u.labmonWheel);
    u.labmonWheel = setTimeout(() => { const [f, t] = pending; pending = null; zoomTo(f, t); }, 350);
  };
  u.over.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomAt(event.offsetX, event.deltaY > 0 ? 1.25 : 0.8);
  }, { passive: false });
  let pinch = null;
  u.over.addEventListener("touchstart", (event) => {
    if (event.touches.length === 2) pinch = Math.abs(event.touches[0].clientX - event.touches[1].clientX);
  }, { passive: true });
  u.over.addEventListener("touchmove", (event) => {
    if (event.touches.length !== 2 || !pinch) return;
    event.preventDefault();
    const gap = Math.abs(event.touches[0].clientX - event.touches[1].clientX) || 1;
    const mid = (event.touches[0].clientX + event.touches[1].clientX) / 2 - u.over.getBoundingClientRect().left;
    zoomAt(mid, pinch / gap);
    pinch = gap;
  }, { passive: false });
  u.over.addEventListener("dblclick", zoomOut);
}

const PAGES = { "/": overview, "/alerts": alerts, "/series": series, "/measurers": measurers };
let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    await PAGES[location.pathname](document.getElementById("app"));
    if (location.pathname !== "/" && location.pathname !== "/measurers") link.collector = await api("/api/collector");
    link.error = null;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    link.error = error.message === "Failed to fetch" ? "no answer" : error.message;
    document.getElementById("updated").textContent = "not updated: " + error.message;
  } finally {
    busy = false;
    banner();
  }
}
window.addEventListener("popstate", () => refresh());
(async () => {
  try { meta = await api("/api/meta"); } catch (error) { /* the first refresh says what is wrong */ }
  await refresh();
  setInterval(tick, 1000);
  // Within one cycle: poll twice per collector interval, between one and ten seconds.
  setInterval(() => { if (location.pathname !== "/series" || seriesState().from == null) refresh(); },
              Math.min(10000, Math.max(1000, (meta.interval * 1000) / 2)));
})();
