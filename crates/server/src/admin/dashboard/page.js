// The dashboard's logic: polls the admin API every POLL_MS, keeps a few minutes of lag and
// statement-rate samples per server for the sparklines, and redraws the tables. Text from the
// API is only ever set as textContent, never parsed as HTML.
"use strict";

const POLL_MS = 1500;
const KEEP = 200; // samples per sparkline: 5 minutes at POLL_MS
const MIN_SPAN = 40; // the shortest sparkline axis: a minute at POLL_MS
const LAG_UNKNOWN = 1e18; // the API's u64::MAX lag: replication stopped or not measurable

// The token: given once as ?token= in the page's address, then sent as a bearer header.
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};

const samples = new Map(); // server address -> { lag: [], rate: [], last: {queries, at} }
let lastRoutes = null; // { at, counts: Map(key -> count) }
let updates = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k === "title") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function td(value, cls) {
  return el("td", cls ? { class: cls } : {}, value === null || value === undefined ? "–" : value);
}

function num(value) {
  return td(value, "num");
}

function ms(us) {
  return (us / 1000).toFixed(us < 10000 ? 2 : 1);
}

function push(list, value) {
  list.push(value);
  if (list.length > KEEP) list.shift();
}

function sparkline(values, width, height) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const known = values.filter((v) => v !== null);
  if (known.length === 0) return svg;
  const max = Math.max(1, ...known);
  // The axis spans at least MIN_SPAN samples (so a fresh page is not a dot), at most KEEP.
  const span = Math.min(KEEP, Math.max(MIN_SPAN, values.length));
  const step = width / (span - 1);
  const x0 = width - step * (values.length - 1);
  // One line (and shaded area) per run of known values: an unknown value leaves a gap.
  const runs = [[]];
  values.forEach((v, i) => {
    if (v === null) {
      if (runs[runs.length - 1].length) runs.push([]);
      return;
    }
    const x = (x0 + i * step).toFixed(1);
    const y = (height - 1 - (v / max) * (height - 2)).toFixed(1);
    runs[runs.length - 1].push([x, `${x},${y}`]);
  });
  for (const run of runs.filter((r) => r.length)) {
    const points = run.map(([, p]) => p).join(" ");
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("points", `${run[0][0]},${height} ${points} ${run[run.length - 1][0]},${height}`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points);
    svg.append(area, line);
  }
  const title = document.createElementNS(ns, "title");
  title.textContent = `max ${max.toFixed(1)}`;
  svg.append(title);
  return svg;
}

async function api(method, path) {
  const r = await fetch(path, { method, headers, cache: "no-store" });
  const body = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) {
    const hint = r.status === 401 ? " (open the page as /?token=<admin.token>)" : "";
    throw new Error(`${method} ${path}: ${body.error || r.status}${hint}`);
  }
  return body;
}

function showError(message) {
  const box = document.getElementById("error");
  box.hidden = !message;
  box.textContent = message || "";
}

async function admission(address, action) {
  if (action === "drain" && !confirm(`Drain ${address}? It stops taking new work.`)) return;
  try {
    await api("POST", `/servers/${encodeURIComponent(address)}/${action}`);
    await refresh();
  } catch (e) {
    showError(e.message);
  }
}

function serverRow(s, now) {
  let h = samples.get(s.address);
  if (!h) {
    h = { lag: [], rate: [], last: null };
    samples.set(s.address, h);
  }
  const lagKnown = s.lag_ms < LAG_UNKNOWN;
  push(h.lag, lagKnown ? s.lag_ms : null);
  let rate = null;
  if (h.last && now > h.last.at) {
    rate = Math.max(0, s.queries - h.last.queries) / ((now - h.last.at) / 1000);
    push(h.rate, rate);
  }
  h.last = { queries: s.queries, at: now };
  const stateClass = ["up", "lagging", "down", "draining", "drained"].includes(s.state)
    ? s.state : "other";
  const drained = s.state === "draining" || s.state === "drained";
  const button = el("button", {
    "data-action": drained ? "enable" : "drain",
    onclick: () => admission(s.address, drained ? "enable" : "drain"),
  }, drained ? "Enable" : "Drain");
  const name = s.name === s.address ? s.address : `${s.name} (${s.address})`;
  const p = s.pool;
  return el("tr", { "data-server": s.address, "data-role": s.role, "data-state": s.state },
    td(name + (s.discovered ? " · discovered" : "")),
    td(s.role),
    el("td", {}, el("span", { class: `badge ${stateClass}` }, s.state)),
    num(lagKnown ? `${s.lag_ms} ms` : "unknown"),
    el("td", {}, sparkline(h.lag, 160, 24)),
    num(`${p.open} / ${p.idle} / ${p.in_use} / ${p.waiting}`),
    num(s.in_flight),
    num(rate === null ? "–" : rate.toFixed(1)),
    el("td", {}, sparkline(h.rate, 160, 24)),
    num(s.errors),
    el("td", {}, button));
}

function routingRows(routing, now) {
  const counts = new Map(routing.map((r) => [`${r.target}/${r.reason}`, r.count]));
  const elapsed = lastRoutes ? (now - lastRoutes.at) / 1000 : 0;
  const max = Math.max(1, ...routing.map((r) => r.count));
  const rows = [...routing].sort((a, b) => b.count - a.count).map((r) => {
    const key = `${r.target}/${r.reason}`;
    const before = lastRoutes ? lastRoutes.counts.get(key) || 0 : null;
    const rate = before === null || elapsed <= 0 ? "–" : ((r.count - before) / elapsed).toFixed(1);
    const bar = el("div", { class: "bar" });
    bar.style.width = `${Math.round((r.count / max) * 120)}px`;
    return el("tr", { "data-route": key }, td(r.target), td(r.reason), num(r.count), num(rate),
      el("td", {}, bar));
  });
  lastRoutes = { at: now, counts };
  return rows;
}

function sessionRow(s) {
  const pinned = s.pinned ? `yes (${s.pin_reason})` : "no";
  return el("tr", { "data-session": s.id },
    num(s.id), td(s.user), td(s.peer), td(s.state), td(s.server), td(pinned), td(s.command),
    num(s.seconds), td(s.schema), td(s.statement, "sql"));
}

function digestRow(d) {
  const where = Object.entries(d.targets).filter(([, n]) => n > 0)
    .map(([t, n]) => `${t} ${n}`).join(", ");
  return el("tr", { "data-digest": d.digest || "other" },
    td(d.text, "sql"), num(d.count), num(ms(d.total_us)), num(ms(d.avg_us)), num(ms(d.max_us)),
    num(d.errors), num(d.rows), td(where));
}

function fill(id, rows, empty) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "muted" }, empty))]));
}

function render(status, sessions, digests) {
  const now = performance.now();
  const up = status.uptime_seconds;
  document.getElementById("proxy").textContent =
    `${status.version} · clients on ${status.listen} · up ${Math.floor(up / 3600)}h ` +
    `${Math.floor((up % 3600) / 60)}m ${up % 60}s · ${status.client_connections} client ` +
    `connections · config ${status.config.sha256.slice(0, 12)} · reloads ${status.reloads.ok} ok, ` +
    `${status.reloads.error} refused`;
  fill("servers", status.servers.map((s) => serverRow(s, now)), "no servers");
  fill("routing", routingRows(status.routing, now), "no statements routed yet");
  document.getElementById("consistency-waits").textContent = status.consistency.waits;
  document.getElementById("consistency-fallbacks").textContent = status.consistency.primary_fallbacks;
  fill("pinned", Object.entries(status.pinned).map(([why, n]) =>
    el("tr", { "data-pin": why }, el("th", {}, why), num(n))), "none pinned");
  document.getElementById("sessions-count").textContent = `(${sessions.sessions.length})`;
  fill("sessions", sessions.sessions.map(sessionRow), "no client sessions");
  fill("digests", digests.digests.map(digestRow), "no statements yet");
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  try {
    const [status, sessions, digests] = await Promise.all([
      api("GET", "/status"), api("GET", "/sessions"), api("GET", "/digests?limit=15"),
    ]);
    render(status, sessions, digests);
    showError(null);
    updates += 1;
    document.body.dataset.state = "live";
    document.body.dataset.updates = updates;
  } catch (e) {
    document.body.dataset.state = "error";
    showError(e.message);
  }
}

async function loop() {
  await refresh();
  setTimeout(loop, POLL_MS);
}

loop();
