"use strict";
// The status page: plain JavaScript, no build step. Pages poll small JSON documents from the collector.
let meta = { interval: 60, csrf: "", can_act: false };
let plot = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}
async function api(path, options) {
  const answer = await fetch(path, { cache: "no-store", ...options });
  const data = await answer.json();
  if (!answer.ok) throw new Error(data.error || answer.status);
  return data;
}
function num(v) {
  if (v == null) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(3) : String(+v.toPrecision(4));
}
function ago(seconds) {
  if (seconds == null) return "–";
  if (seconds < 90) return Math.round(seconds) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  if (seconds < 172800) return Math.round(seconds / 3600) + " h ago";
  return Math.round(seconds / 86400) + " d ago";
}
const when = (t) => (t == null ? "–" : new Date(t * 1000).toLocaleString());
const seriesLink = (key) => el("a", { href: "/series?s=" + encodeURIComponent(key) }, key);

function sparkline(t, v) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  const values = v.filter((x) => x != null);
  if (values.length < 2) return svg;
  const lo = Math.min(...values), hi = Math.max(...values), t0 = t[0], span = t[t.length - 1] - t0 || 1;
  let d = "", pen = "M";
  t.forEach((time, i) => {
    if (v[i] == null) { pen = "M"; return; }
    const y = hi === lo ? 50 : 95 - ((v[i] - lo) / (hi - lo)) * 90;
    d += `${pen}${(((time - t0) / span) * 100).toFixed(2)},${y.toFixed(2)} `;
    pen = "L";
  });
  svg.setAttribute("viewBox", "0 0 100 100");
  svg.setAttribute("preserveAspectRatio", "none");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}

async function overview(app) {
  const data = await api("/api/overview");
  const tiles = el("div", { class: "tiles" });
  for (const tile of data.tiles) {
    const value = tile.state === "error" ? "error" : num(tile.value);
    tiles.append(
      el("a", { class: "tile state-" + tile.state, href: "/series?s=" + encodeURIComponent(tile.series),
                "data-series": tile.series, "data-state": tile.state, title: tile.error || "" },
        el("div", { class: "name" }, tile.series),
        el("div", {}, el("span", { class: "value" }, value), el("span", { class: "unit" }, tile.unit)),
        el("div", { class: "foot" }, el("span", { class: "badge" }, tile.state),
           el("span", { class: "muted" }, ago(data.now - tile.at))),
        sparkline(tile.spark[0], tile.spark[1])));
  }
  app.replaceChildren(data.tiles.length ? tiles : el("p", { class: "muted" }, "No readings stored yet."));
}

function table(headers, rows, attrs = {}) {
  return el("table", attrs, el("tr", {}, ...headers.map((h) => el("th", {}, h))),
            ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
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

function silenceForm() {
  if (!meta.can_act) return el("p", { class: "muted" },
    "Adding a silence from the page needs the page's password ([collector.web] password); or run labmon silence add.");
  const form = el("form", { id: "silence" },
    el("input", { name: "selector", placeholder: "table1/laser1/*", required: "" }),
    el("input", { name: "duration", placeholder: "2h", required: "", size: "5" }),
    el("input", { name: "comment", placeholder: "why" }), el("button", { type: "submit" }, "Silence"),
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

let search = { rule: "", series: "", since: "7d" };
async function alerts(app) {
  const [now, hist] = await Promise.all([api("/api/alerts"), api("/api/events?" + new URLSearchParams(search))]);
  let region = app.querySelector("#alerts-live");
  if (!region) {
    region = el("div", { id: "alerts-live" });
    const form = el("form", { id: "search" },
      el("input", { name: "rule", placeholder: "rule contains" }),
      el("input", { name: "series", placeholder: "series contains" }),
      el("input", { name: "since", value: search.since, size: "5" }), el("button", { type: "submit" }, "Search"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      search = Object.fromEntries(new FormData(form));
      refresh();
    });
    app.replaceChildren(region, el("h2", {}, "Silences"), el("div", { id: "silences" }), silenceForm(),
                        el("h2", {}, "Mute windows"), el("div", { id: "mute-windows" }),
                        el("h2", {}, "Alert history"), form, el("div", { id: "history" }));
  }
  region.replaceChildren(el("h2", {}, "Firing and pending"), now.active.length ? table(
    ["state", "rule", "series", "since", "value", "threshold", "silenced", "acknowledged"],
    now.active.map((a) => [el("span", { class: "badge state-" + a.state }, a.latched ? "latched" : a.state), a.rule,
      seriesLink(a.series), ago(now.now - a.since), `${num(a.value)} ${a.unit}`,
      a.threshold.map(num).join(" / ") || "–", a.silenced ? "yes" : a.muted ? "muted" : a.held_back ? "held back: " + a.held_back : "no",
      ackCell(a)]), { id: "active" }) : el("p", { class: "muted", id: "active" }, "Nothing firing or pending."));
  app.querySelector("#silences").replaceChildren(now.silences.length ? table(["#", "selector", "ends", "comment"],
    now.silences.map((s) => ["#" + s.id, s.selector, when(s.ends), s.comment])) : el("p", { class: "muted" }, "No silences."));
  app.querySelector("#mute-windows").replaceChildren(now.mute_windows.length ? table(["window", "now"],
    now.mute_windows.map((w) => [w.window, w.in_force ? "in force" : "–"]))
    : el("p", { class: "muted" }, "No mute windows ([[collector.mute_windows]])."));
  app.querySelector("#history").replaceChildren(table(["time", "event", "rule", "series", "value", "detail"],
    hist.events.map((e) => [when(e.at), e.kind, e.rule, seriesLink(e.series),
      e.value == null ? "–" : `${num(e.value)} ${e.unit}`, e.detail]), { id: "events" }));
}

async function measurers(app) {
  const data = await api("/api/measurers");
  app.replaceChildren(el("h2", {}, "Measurers"), table(["measurer", "status", "last answer", "answered", "missing", "broker"],
    data.measurers.map((m) => [m.name, el("span", { class: "badge state-" + (m.status === "online" ? "ok" : "offline") }, m.status),
      m.last_answer == null ? "never" : ago(data.now - m.last_answer), m.answered, m.missing, m.broker])));
}

// Series page: range buttons, drag to zoom (the zoomed range is fetched at its own resolution), thresholds and firing.
let range = { name: "1h", since: null, until: null };
function overlay(u, data) {
  const ctx = u.ctx, { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.fillStyle = "rgba(198, 40, 40, 0.22)";
  for (const f of data.firing) {
    const x0 = Math.max(left, u.valToPos(f.start, "x", true));
    const x1 = Math.min(left + width, u.valToPos(f.end ?? data.until, "x", true));
    if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, height);
  }
  ctx.strokeStyle = "#ef5350"; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
  for (const line of data.thresholds) {
    const y = u.valToPos(line.value, "y", true);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
  }
  ctx.restore();
}
async function series(app) {
  const key = new URLSearchParams(location.search).get("s") || "";
  const q = new URLSearchParams({ s: key });
  if (range.since != null) { q.set("since", range.since); q.set("until", range.until); } else q.set("range", range.name);
  const data = await api("/api/series?" + q);
  if (!app.querySelector("#plot")) {
    const buttons = el("div", { id: "ranges" }, ...["1h", "24h", "7d", "30d", "1y"].map((name) => {
      const b = el("button", { "data-range": name }, name);
      b.addEventListener("click", () => { range = { name, since: null, until: null }; refresh(); });
      return b;
    }));
    app.replaceChildren(el("h2", {}, key), buttons,
      el("p", { class: "muted" }, "Drag across the plot to zoom, double-click to go back. Dashed lines: thresholds; red: firing."),
      el("div", { id: "plot" }));
  }
  for (const b of app.querySelectorAll("#ranges button")) b.classList.toggle("on", range.since == null && b.dataset.range === range.name);
  const box = app.querySelector("#plot");
  const values = data.data[1].filter((v) => v != null).concat(data.thresholds.map((t) => t.value));
  const lo = Math.min(...values), hi = Math.max(...values), pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
  const opts = {
    width: Math.max(300, box.clientWidth - 16), height: Math.min(460, Math.max(240, innerHeight - 260)),
    // A range longer than the history starts at the first reading, not in an empty plot.
    scales: { x: { time: true, min: Math.max(data.since, data.data[0][0] ?? data.since), max: data.until }, y: { range: () => [lo - pad, hi + pad] } },
    axes: [{ stroke: "#8a9099", grid: { stroke: "#2a313a" } }, { stroke: "#8a9099", grid: { stroke: "#2a313a" }, size: 70, values: (u, ticks) => ticks.map(num) }],
    series: [{}, { label: `${key} (${data.unit})`, stroke: "#90caf9", width: 1.5, value: (u, v) => num(v) },
             ...["min", "max"].slice(0, data.data.length - 2).map((label) =>
               ({ label, stroke: "rgba(144,202,249,0.35)", value: (u, v) => num(v) }))],
    hooks: {
      draw: [(u) => overlay(u, data)],
      setSelect: [(u) => {
        if (u.select.width < 5) return;
        range = { name: "", since: u.posToVal(u.select.left, "x"), until: u.posToVal(u.select.left + u.select.width, "x") };
        refresh();
      }],
    },
    cursor: { drag: { x: true, y: false, setScale: false } },
  };
  if (plot) plot.destroy();
  plot = new uPlot(opts, data.data, box);
  window.labmonPlot = plot; // for the browser tests, and for poking at in the console
  plot.over.addEventListener("dblclick", () => { range = { name: range.name || "24h", since: null, until: null }; refresh(); });
  box.dataset.points = data.data[1].filter((v) => v != null).length;
  box.dataset.thresholds = data.thresholds.length;
  box.dataset.firing = data.firing.length;
  box.dataset.resolution = data.resolution;
}

const PAGES = { "/": overview, "/alerts": alerts, "/series": series, "/measurers": measurers };
let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    await PAGES[location.pathname](document.getElementById("app"));
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    document.getElementById("updated").textContent = "not updated: " + error.message;
  } finally {
    busy = false;
  }
}
(async () => {
  try { meta = await api("/api/meta"); } catch (error) { /* the first refresh says what is wrong */ }
  await refresh();
  // Within one cycle: poll twice per collector interval, between one and ten seconds.
  setInterval(() => { if (location.pathname !== "/series" || range.since == null) refresh(); },
              Math.min(10000, Math.max(1000, (meta.interval * 1000) / 2)));
})();
