// plugsock console: lists the connected plugins, shows what each function
// takes and returns, calls functions and streams events. It speaks only the
// admin API beside it (relative URLs, so it works under any mount point).
//
// The API wants a token on every request. The console is opened once with
// it in the URL (…/?token=…, as 'plugsock serve' logs it), keeps it in
// sessionStorage for this tab, and takes it out of the address bar at once
// so that it stays out of history and screenshots. It is sent as
// "Authorization: Bearer" on every request, the event stream included:
// EventSource cannot set headers, so the stream is read with fetch, which
// keeps the token out of every URL the server sees.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_LOG = 500;

const state = {
  plugins: new Map(), // name -> {name, version}
  health: new Map(), // name -> its health, as GET api/health/plugins has it
  selected: null, // name of the selected plugin
  info: null, // its full description
  fn: null, // name of the selected function
  seq: 0, // guards against answers to stale selections
};

// el builds an element: el("span", {class: "x", "data-a": 1}, child, "text").
function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") n.className = v;
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c !== undefined && c !== null) n.append(c);
  }
  return n;
}

async function api(path, init) {
  let resp;
  try {
    resp = await fetch(path, withAuth(init));
  } catch (err) {
    return { ok: false, status: 0, body: { error: { code: 0, message: "cannot reach the server: " + err.message } } };
  }
  const text = await resp.text();
  let body = null;
  if (text !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: { code: 0, message: text.trim() } };
    }
  }
  if (resp.status === 401) needToken(errorOf({ status: 401, body }).message);
  return { ok: resp.ok, status: resp.status, statusText: resp.statusText, body, trace: resp.headers.get("X-Plugsock-Trace") };
}

function errorOf(r) {
  const e = (r.body && r.body.error) || {};
  return { code: e.code ?? 0, message: e.message || `HTTP ${r.status} ${r.statusText || ""}`.trim() };
}

const seg = encodeURIComponent;

// ---- token ------------------------------------------------------------

const TOKEN_KEY = "plugsock-admin-token";

// takeToken moves a ?token= from the address bar into sessionStorage.
function takeToken() {
  const url = new URL(window.location.href);
  const t = url.searchParams.get("token");
  if (t === null) return;
  if (t !== "") sessionStorage.setItem(TOKEN_KEY, t);
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// withAuth returns fetch options that carry the token.
function withAuth(init) {
  const headers = new Headers((init && init.headers) || {});
  const t = token();
  if (t) headers.set("Authorization", "Bearer " + t);
  return { ...(init || {}), headers, cache: "no-store" };
}

// needToken shows the token form with why the server refused.
function needToken(message) {
  $("token-why").textContent = message || "The admin API needs its token.";
  $("token-form").hidden = false;
  setStatus("down", "Needs the admin token");
}

function useToken(ev) {
  ev.preventDefault();
  const t = $("token-input").value.trim();
  if (!t) return;
  sessionStorage.setItem(TOKEN_KEY, t);
  $("token-input").value = "";
  $("token-form").hidden = true;
  refreshPlugins();
  wakeEvents();
}

// ---- plugins ----------------------------------------------------------

async function refreshPlugins() {
  const r = await api("api/plugins");
  if (!r.ok) {
    logLine("error", "", errorOf(r).message);
    return;
  }
  state.plugins = new Map(r.body.plugins.map((p) => [p.name, p]));
  renderPluginList();
  if (state.selected) {
    const present = state.plugins.has(state.selected);
    const wasGone = !$("plugin-gone").hidden;
    if (!present) markGone(state.selected);
    else if (wasGone) selectPlugin(state.selected); // it came back: reload
  }
}

function renderPluginList() {
  const list = $("plugin-list");
  const names = [...state.plugins.keys()].sort();
  list.replaceChildren(
    ...names.map((name) => {
      const p = state.plugins.get(name);
      const b = el(
        "button",
        { type: "button", "data-testid": "plugin-item", "data-plugin": name, "aria-current": name === state.selected ? "true" : "false" },
        el("span", { class: "pname" }, name),
        el("span", { class: "pmeta" }, p.version ? el("span", { class: "version" }, p.version) : null, healthBadge(state.health.get(name))),
      );
      b.addEventListener("click", () => selectPlugin(name));
      return el("li", {}, b);
    }),
  );
  $("plugin-count").textContent = String(names.length);
  $("no-plugins").hidden = names.length > 0;
}

async function selectPlugin(name) {
  const seq = ++state.seq;
  const same = name === state.selected && state.info;
  state.selected = name;
  if (!same) {
    // Another plugin: nothing of the last one's may stay on screen.
    state.info = null;
    state.fn = null;
    $("function-list").replaceChildren();
    $("function-view").hidden = true;
    $("plugin-version").textContent = "";
    $("exit-view").hidden = true; // until refreshExits finds one of this plugin's
  }
  renderPluginList();
  $("empty-state").hidden = true;
  $("plugin-view").hidden = false;
  $("plugin-name").textContent = name;
  renderHealthView();
  renderActivity();
  if (!same) refreshExits();
  const link = $("openrpc-link");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = `api/plugins/${seg(name)}/openrpc`;
  link.removeAttribute("data-ready");
  const r = await api(`api/plugins/${seg(name)}`);
  if (seq !== state.seq) return; // the user picked another meanwhile
  if (!r.ok) {
    state.info = null;
    state.fn = null;
    $("function-list").replaceChildren();
    $("function-view").hidden = true;
    markGone(name, errorOf(r).message);
    return;
  }
  state.info = r.body;
  $("plugin-gone").hidden = true;
  $("unplug").disabled = false;
  const cur = state.fn && (state.info.functions || {})[state.fn];
  $("call").disabled = !!(cur && cur.stream); // a stream is not called (selectFunction)
  $("plugin-version").textContent = r.body.version ? "v" + r.body.version.replace(/^v/, "") : "";
  if (state.fn && !(state.info.functions || {})[state.fn]) {
    state.fn = null;
    $("function-view").hidden = true;
  }
  renderFunctionList();
}

setInterval(refreshStreams, 1000);

// ---- health -----------------------------------------------------------

// refreshHealth shows how each plugin is: a badge in the list, and the
// selected plugin's status and message in its view. It polls, as
// refreshStreams does: the host checks health on its own interval
// (socket.Config.HealthInterval), and no event says so. Badges change in
// place, so that the list is not rebuilt under a click.
async function refreshHealth() {
  if (document.hidden) return;
  const r = await api("api/health/plugins");
  if (!r.ok) return;
  state.health = new Map((r.body.plugins || []).map((h) => [h.plugin, h]));
  for (const b of $("plugin-list").querySelectorAll("[data-testid=plugin-item]")) {
    const old = b.querySelector("[data-testid=health-badge]");
    const next = healthBadge(state.health.get(b.dataset.plugin));
    if (old && next && old.dataset.status === next.dataset.status && old.title === next.title) continue;
    if (old) old.remove();
    if (next) b.querySelector(".pmeta").append(next);
  }
  renderHealthView();
}
setInterval(refreshHealth, 1000);

// healthLabel is what a badge says: the status, "checking" before the
// first check has answered, nothing for a plugin whose health the host
// does not check.
function healthLabel(h) {
  if (!h || !h.checks) return "";
  return h.status === "unknown" ? "checking" : h.status;
}

function healthBadge(h) {
  const label = healthLabel(h);
  if (!label) return null;
  return el("span", { class: "health", "data-testid": "health-badge", "data-status": h.status, title: h.message || label }, label);
}

function renderHealthView() {
  const name = state.selected;
  const h = name ? state.health.get(name) : undefined;
  $("health-view").hidden = !h;
  if (!h) return;
  const status = $("health-status");
  status.dataset.status = h.status;
  const clock = (t) => new Date(t).toLocaleTimeString();
  if (!h.checks) {
    status.textContent = "not checked";
    $("health-message").textContent = "The plugin declares no health check, or the host checks none (socket.Config.HealthInterval; plugsock serve --health-interval). Connected is all that is known.";
    $("health-meta").textContent = "";
    return;
  }
  status.textContent = healthLabel(h);
  $("health-message").textContent = h.message || "";
  $("health-meta").textContent = `since ${clock(h.since)}` + (h.lastCheck ? ` · checked ${clock(h.lastCheck)}` : " · first check under way");
}

// ---- activity ---------------------------------------------------------

// refreshStats keeps, for every plugin, a minute of its calls per second,
// the share of its calls that failed and its latency percentiles, and
// draws the selected plugin's as sparklines. It polls GET api/stats, whose
// counts are cumulative: each point is the difference of two answers over
// the time between them. The percentiles are estimated from the
// difference of the duration histograms, interpolating within a bucket
// as Prometheus's histogram_quantile does.
const CHART_POINTS = 60;
const stats = {
  last: null, // the last answer: {at, plugins: name -> its counts}
  history: new Map(), // plugin -> {calls, errors, p50, p90, p99: [...], totals}
};

async function refreshStats() {
  if (document.hidden) return;
  const r = await api("api/stats");
  if (!r.ok) return;
  const at = Date.parse(r.body.at);
  const bounds = r.body.bounds || [];
  const now = new Map();
  for (const p of r.body.plugins || []) {
    const prev = stats.last && stats.last.plugins.get(p.plugin);
    const h = stats.history.get(p.plugin) || { calls: [], errors: [], p50: [], p90: [], p99: [] };
    const dt = stats.last ? (at - stats.last.at) / 1000 : 0;
    if (prev && dt > 0) {
      const calls = Math.max(0, total(p.calls) - total(prev.calls));
      const failed = Math.max(0, failures(p.calls) - failures(prev.calls));
      const diff = (p.calls.durations || []).map((n, i) => Math.max(0, n - ((prev.calls.durations || [])[i] || 0)));
      push(h.calls, calls / dt);
      push(h.errors, calls > 0 ? (100 * failed) / calls : 0);
      push(h.p50, quantile(0.5, bounds, diff));
      push(h.p90, quantile(0.9, bounds, diff));
      push(h.p99, quantile(0.99, bounds, diff));
    }
    h.totals = { calls: total(p.calls), failed: failures(p.calls), restarts: p.restarts || 0, exits: p.exits || {} };
    stats.history.set(p.plugin, h);
    now.set(p.plugin, p);
  }
  // Names the host no longer counts are forgotten here too.
  for (const name of stats.history.keys()) if (!now.has(name)) stats.history.delete(name);
  stats.last = { at, plugins: now };
  renderActivity();
}
setInterval(refreshStats, 1000);

function total(c) {
  return Object.values((c && c.outcomes) || {}).reduce((a, b) => a + b, 0);
}

function failures(c) {
  return total(c) - (((c && c.outcomes) || {}).ok || 0);
}

function push(series, v) {
  series.push(v);
  if (series.length > CHART_POINTS) series.splice(0, series.length - CHART_POINTS);
}

// quantile estimates the q-quantile, in seconds, of calls counted in
// buckets with upper bounds bounds (the last bucket has none); null when
// there are none.
function quantile(q, bounds, counts) {
  const n = counts.reduce((a, b) => a + b, 0);
  if (n === 0 || bounds.length === 0) return null;
  const rank = q * n;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c > 0 && cum + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1]; // beyond the last bound: at least that
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - cum) / c);
    }
    cum += c;
  }
  return bounds[bounds.length - 1];
}

// statsName is the name the host counts a plugin under: without @version,
// since a plugin's versions share their counts.
function statsName(name) {
  return name.split("@")[0];
}

function renderActivity() {
  const name = state.selected;
  const h = name ? stats.history.get(statsName(name)) : undefined;
  $("activity-view").hidden = !h;
  if (!h) return;
  const last = (s) => (s.length ? s[s.length - 1] : null);
  const calls = last(h.calls);
  const errors = last(h.errors);
  $("calls-now").textContent = calls === null ? "–" : rate(calls);
  $("errors-now").textContent = errors === null ? "–" : `${percent(errors)}`;
  sparkline($("calls-chart"), [h.calls], { floor: 1 });
  sparkline($("errors-chart"), [h.errors], { floor: 100, ceiling: 100 });
  // Drawn slowest first, so that p50 is on top where they meet.
  sparkline($("latency-chart"), [h.p99, h.p90, h.p50], {});
  const lat = $("latency-now");
  for (const [k, s] of [["p50", h.p50], ["p90", h.p90], ["p99", h.p99]]) {
    const v = last(s);
    lat.querySelector("." + k).textContent = `${k} ${v === null || v === undefined ? "–" : duration(v)}`;
  }
  $("latency-chart").dataset.value = String(last(h.p50) ?? "");
  const t = h.totals;
  const exits = Object.entries(t.exits).map(([reason, n]) => `${n} ${reason}`).join(", ");
  const parts = [
    total1("calls", t.calls === 1 ? "call" : "calls", t.calls),
    total1("failed", "failed", t.failed),
    total1("restarts", t.restarts === 1 ? "restart" : "restarts", t.restarts),
  ];
  if (exits) parts.push(el("span", { "data-testid": "exits" }, `exits: ${exits}`));
  $("activity-totals").replaceChildren(...parts);
}

function total1(testid, label, n) {
  return el("span", { "data-testid": testid, "data-value": n }, el("strong", {}, String(n)), " " + label);
}

function rate(v) {
  return v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function percent(v) {
  return (v >= 10 || v === 0 ? Math.round(v) : v.toFixed(1)) + " %";
}

function duration(sec) {
  if (sec < 0.001) return `${(sec * 1e6).toFixed(0)} µs`;
  if (sec < 1) return `${(sec * 1000).toFixed(sec < 0.01 ? 2 : sec < 0.1 ? 1 : 0)} ms`;
  return `${sec.toFixed(2)} s`;
}

// sparkline draws each series as a path in svg, the newest point at the
// right edge and CHART_POINTS points across, scaled to the largest value
// shown (at least opts.floor; at most opts.ceiling). A null point, an
// interval without calls for a percentile, breaks the line. svg's
// data-value is the first series' newest point, data-points how many it
// has: what a test reads.
function sparkline(svg, series, opts) {
  const [w, h, pad] = [120, 36, 2];
  let top = opts.floor || 0;
  for (const s of series) for (const v of s) if (v !== null && v > top) top = v;
  if (opts.ceiling) top = Math.min(top, opts.ceiling);
  if (!(top > 0)) top = 1;
  const step = w / (CHART_POINTS - 1);
  const paths = svg.querySelectorAll("path");
  series.forEach((s, k) => {
    let d = "";
    let pen = false;
    const off = CHART_POINTS - s.length;
    s.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      const x = (off + i) * step;
      const y = h - pad - (Math.min(v, top) / top) * (h - 2 * pad);
      d += `${pen ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
      pen = true;
    });
    if (paths[k]) paths[k].setAttribute("d", d);
  });
  const first = series[0];
  svg.dataset.value = first.length ? String(first[first.length - 1] ?? "") : "";
  svg.dataset.points = String(first.length);
  svg.dataset.max = String(top);
}

// ---- exits ------------------------------------------------------------

// refreshExits logs each new exit of a launched plugin's process in the
// event log, and shows the selected plugin's last one with the tail of
// its standard error: after a crash, usually the reason.
const seenExits = new Set();
async function refreshExits() {
  if (document.hidden) return;
  const r = await api("api/exits");
  if (!r.ok) return;
  const exits = r.body.exits || [];
  for (const x of exits) {
    const key = `${x.pid} ${x.at}`;
    if (seenExits.has(key)) continue;
    seenExits.add(key);
    logLine("exited", x.plugin, `pid ${x.pid} ${x.status}; ${x.next}`, x.code === 0 ? "" : "bad", new Date(x.at));
  }
  if (seenExits.size > 4 * 32) {
    // The host keeps the last 32; forget what it no longer lists.
    const listed = new Set(exits.map((x) => `${x.pid} ${x.at}`));
    for (const k of seenExits) if (!listed.has(k)) seenExits.delete(k);
  }
  const name = state.selected;
  const mine = exits.filter((x) => name && (x.plugin === name || x.plugin === statsName(name)));
  const last = mine[mine.length - 1];
  $("exit-view").hidden = !last;
  if (!last) return;
  const status = $("exit-status");
  status.textContent = last.status;
  status.dataset.code = String(last.code);
  $("exit-meta").textContent = `pid ${last.pid} · ${new Date(last.at).toLocaleTimeString()} · ${last.next}`;
  $("exit-stderr").textContent = (last.stderr || []).join("\n") || "(nothing on standard error)";
}
setInterval(refreshExits, 1000);

// ---- events and state -------------------------------------------------

// refreshEvents shows the topics and subscriptions of the host's event
// store, and the selected plugin's last snapshot. A host without events in
// use answers with none, and the section stays hidden.
async function refreshEvents() {
  if (document.hidden) return;
  const [t, s] = await Promise.all([api("api/topics"), api("api/subscriptions")]);
  const topics = (t.ok && t.body.topics) || [];
  const subs = (s.ok && s.body.subscriptions) || [];
  $("topic-rows").replaceChildren(
    ...topics.map((x) => el("tr", { "data-testid": "topic-row", "data-topic": x.topic },
      el("td", {}, x.topic), el("td", {}, String(x.first)), el("td", {}, String(x.last)))),
  );
  $("topic-count").textContent = String(topics.length);
  const rows = [];
  for (const sub of subs) {
    for (const x of sub.topics || []) {
      rows.push(el("tr", { "data-testid": "subscription-row", "data-subscription": sub.name, "data-topic": x.topic },
        el("td", {}, sub.name), el("td", {}, x.topic), el("td", {}, String(x.committed)),
        el("td", {}, String(x.lag)), el("td", {}, String(x.inFlight))));
    }
  }
  $("subscription-rows").replaceChildren(...rows);
  $("events-view").hidden = topics.length === 0 && subs.length === 0;

  const name = state.selected;
  const line = $("state-line");
  if (!name) return;
  const st = await api(`api/state/${seg(name.split("@")[0])}`);
  if (name !== state.selected) return;
  if (!st.ok) {
    line.hidden = true;
    return;
  }
  line.textContent = `State: a snapshot of ${st.body.size} bytes, taken ${Math.round(st.body.age)} s ago.`;
  line.hidden = false;
}
setInterval(refreshEvents, 2000);

function markGone(name, why) {
  const p = $("plugin-gone");
  p.textContent = why || `${name} is no longer connected. It will be reloaded if it comes back.`;
  p.hidden = false;
  $("unplug").disabled = true;
  $("call").disabled = true;
}

function renderFunctionList() {
  const fns = Object.keys((state.info && state.info.functions) || {}).sort();
  $("function-list").replaceChildren(
    ...fns.map((f) => {
      const b = el("button", { type: "button", "data-testid": "function-item", "data-function": f, "aria-current": f === state.fn ? "true" : "false" }, f);
      b.addEventListener("click", () => selectFunction(f));
      return el("li", {}, b);
    }),
  );
  $("no-functions").hidden = fns.length > 0;
}

// ---- functions --------------------------------------------------------

function selectFunction(name) {
  state.fn = name;
  renderFunctionList();
  const fn = state.info.functions[name];
  $("function-view").hidden = false;
  $("function-title").textContent = `${state.selected}.${name}`;
  renderShape($("input-shape"), fn.input, fn.inputSchema, true);
  if (fn.stream) {
    // A stream returns its items, not a result: show what flows out (or,
    // for a sink, in), and say why the console does not call it.
    const out = fn.stream.out || fn.stream.outSchema;
    renderShape($("output-shape"), out ? fn.stream.out : fn.stream.in, out ? fn.stream.outSchema : fn.stream.inSchema, false);
    const shape = fn.stream.out || fn.stream.outSchema ? (fn.stream.in || fn.stream.inSchema ? "processor" : "source") : "sink";
    $("stream-note").textContent = `${name} is a stream (a ${shape}): a program opens it with socket.OpenStream and exchanges items; the console shows it under Open streams while one is open, and does not call it.`;
    $("stream-note").hidden = false;
    $("call").disabled = true;
  } else {
    renderShape($("output-shape"), fn.output, fn.outputSchema, false);
    $("stream-note").hidden = true;
    $("call").disabled = false;
  }
  resetPayload();
  clearOutcome();
}

// ---- streams ----------------------------------------------------------

// refreshStreams shows the selected plugin's open streams. It polls: the
// counts change with every item, far too often for the event stream.
async function refreshStreams() {
  const name = state.selected;
  if (!name || document.hidden) return;
  const r = await api("api/streams");
  if (!r.ok || name !== state.selected) return;
  const mine = (r.body.streams || []).filter((s) => s.plugin === name);
  const now = Date.now();
  $("stream-rows").replaceChildren(
    ...mine.map((s) => {
      const age = Math.max(0, Math.round((now - Date.parse(s.opened)) / 1000));
      const cells = [s.method, s.sent, s.acked, s.received, s.settled, s.credit, s.window, age + " s"];
      return el("tr", { "data-testid": "stream-row", "data-method": s.method }, ...cells.map((c) => el("td", {}, String(c))));
    }),
  );
  $("stream-count").textContent = String(mine.length);
  $("streams-view").hidden = mine.length === 0;
}

function resetPayload() {
  const fn = state.info && state.fn && state.info.functions[state.fn];
  const sk = fn ? skeleton(fn) : null;
  $("payload").value = sk === undefined || sk === null ? "" : JSON.stringify(sk, null, 2);
  checkPayload();
}

// skeleton returns a value for the user to fill in: one that fits the
// function's input schema where it has one (a date-time is a real time,
// an enum its first value, a number within its bounds), else one of the
// shape its Entity describes, with zero values.
function skeleton(fn) {
  if (described(fn.input, fn.inputSchema)) return sample(fn.inputSchema, fn.inputSchema, 0, new Set());
  return fn.input ? zero(fn.input.type || "any", fn.input.fields, 0) : null;
}

function zero(type, fields, depth) {
  if (depth > 8) return null;
  if (type === "struct") {
    const o = {};
    for (const f of fields || []) o[f.name] = zero(f.type || "any", f.fields, depth + 1);
    return o;
  }
  if (type.startsWith("[]")) return [];
  if (type.startsWith("map[")) return {};
  if (type === "string") return "";
  if (type === "bool") return false;
  if (/^(u?int(8|16|32|64)?|uintptr|float(32|64))$/.test(type)) return 0;
  return null;
}

// ---- JSON Schema ------------------------------------------------------
//
// Schemas come from plugins: every walk over one is bounded by maxDepth,
// and references are followed within the schema only, a few at a time.

const has = (o, k) => o !== null && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, k);

// pointer returns what a "#/..." reference points to in root.
function pointer(root, ref) {
  if (ref === "#") return root;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
  let cur = root;
  for (const raw of ref.slice(2).split("/")) {
    let tok;
    try {
      tok = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      return undefined;
    }
    if (!has(cur, tok)) return undefined;
    cur = cur[tok];
  }
  return cur;
}

// resolve follows a schema's "$ref", and its target's, a few times,
// noting in refs (when given) each reference it followed.
function resolve(s, root, refs) {
  for (let i = 0; i < 8 && has(s, "$ref"); i++) {
    const t = pointer(root, s.$ref);
    if (t === undefined) break;
    if (refs) refs.push(s.$ref);
    // A description beside a reference describes the use of it.
    s = typeof t === "object" && t !== null && s.description && !t.description ? { ...t, description: s.description } : t;
  }
  return s;
}

const isNull = (s) => has(s, "type") && (s.type === "null" || (Array.isArray(s.type) && s.type.length === 1 && s.type[0] === "null"));

// view reads a schema for showing and sampling: what it stands for apart
// from null (through a $ref, and an anyOf or oneOf with a null branch),
// whether null is allowed, and the references it went through.
function view(s, root, refs = []) {
  s = resolve(s, root, refs);
  if (s === true || s === undefined) return { s: {}, types: [], nullable: true, refs };
  if (s === false || s === null || typeof s !== "object") return { s: {}, types: [], nullable: false, refs };
  let nullable = false;
  let types = has(s, "type") ? [].concat(s.type).filter((t) => typeof t === "string") : [];
  if (types.includes("null")) {
    nullable = true;
    types = types.filter((t) => t !== "null");
  }
  for (const k of ["anyOf", "oneOf"]) {
    if (!Array.isArray(s[k])) continue;
    const branches = s[k].slice(0, 64);
    const others = branches.filter((b) => !isNull(resolve(b, root)));
    if (others.length < branches.length) nullable = true;
    if (others.length >= 1 && types.length === 0 && !has(s, "properties")) {
      const inner = view(others[0], root, refs);
      return { s: { ...inner.s, description: s.description || inner.s.description }, types: inner.types, nullable: nullable || inner.nullable, refs };
    }
  }
  if (Array.isArray(s.enum) && s.enum.includes(null)) nullable = true;
  if (types.length === 0 && has(s, "properties")) types = ["object"];
  return { s, types, nullable, refs };
}

// recursive reports whether a view went through a reference that is
// being expanded already, further out.
const recursive = (v, seen) => v.refs.some((r) => seen.has(r));

// within returns seen with the view's references added.
const within = (v, seen) => (v.refs.length ? new Set([...seen, ...v.refs]) : seen);

// label is a short name of what a schema describes: "string (date-time)",
// "integer", "[]object", "map[string]integer", "enum", "any".
function label(s, root, depth) {
  const v = view(s, root);
  const t = v.types[0];
  if (depth > maxDepth) return "…";
  if (Array.isArray(v.s.enum)) return "enum";
  if (has(v.s, "const")) return JSON.stringify(v.s.const);
  if (t === "string") {
    const f = v.s.format || (v.s.contentEncoding ? v.s.contentEncoding : "");
    return f ? `string (${f})` : "string";
  }
  if (t === "array") return "[]" + (has(v.s, "items") ? label(v.s.items, root, depth + 1) : "any");
  if (t === "object" && !has(v.s, "properties") && has(v.s, "additionalProperties") && typeof v.s.additionalProperties === "object") {
    return "map[string]" + label(v.s.additionalProperties, root, depth + 1);
  }
  if (t) return v.types.join(" | ");
  return "any";
}

// members returns the members of the object a schema describes, itself or
// as the innermost element of its arrays (as an Entity lists them), each
// with its schema, whether it is required, and its path of keys below the
// value (null where an array element stands: the first is the one set).
function members(s, root, depth) {
  const path = [];
  const refs = [];
  let v = view(s, root, refs);
  for (let i = 0; i < maxDepth && v.types[0] === "array" && has(v.s, "items"); i++) {
    path.push(0);
    v = view(v.s.items, root, refs);
  }
  if (!has(v.s, "properties") || typeof v.s.properties !== "object" || depth > maxDepth) return { path, list: [], refs };
  const required = Array.isArray(v.s.required) ? v.s.required : [];
  const list = Object.keys(v.s.properties).map((name) => ({ name, schema: v.s.properties[name], required: required.includes(name) }));
  return { path, list, refs };
}

// nowRFC3339 is the time now, to the second, as RFC 3339 has it.
const nowRFC3339 = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

const formats = {
  "date-time": nowRFC3339,
  date: () => nowRFC3339().slice(0, 10),
  time: () => nowRFC3339().slice(11),
  email: () => "user@example.com",
  "idn-email": () => "user@example.com",
  hostname: () => "example.com",
  "idn-hostname": () => "example.com",
  ipv4: () => "192.0.2.1",
  ipv6: () => "2001:db8::1",
  uri: () => "urn:example:a",
  "uri-reference": () => "urn:example:a",
  iri: () => "urn:example:a",
  "iri-reference": () => "urn:example:a",
  uuid: () => "00000000-0000-4000-8000-000000000000",
  duration: () => "PT1S",
};

// sample returns a value that fits schema s, for a payload to start from.
// seen holds the references being expanded, so that a recursive type is
// given once and not again inside itself.
function sample(s, root, depth, seen) {
  if (depth > 8) return null;
  const v = view(s, root);
  if (recursive(v, seen)) return undefined;
  const x = v.s;
  if (has(x, "default")) return x.default;
  if (has(x, "const")) return x.const;
  if (Array.isArray(x.enum) && x.enum.length > 0) return x.enum[0];
  if (Array.isArray(x.examples) && x.examples.length > 0) return x.examples[0];
  const inner = within(v, seen);
  switch (v.types[0]) {
    case "object": {
      const o = {};
      const m = members(x, root, depth);
      for (const p of m.list) {
        const val = sample(p.schema, root, depth + 1, inner);
        if (val !== undefined) o[p.name] = val;
        else if (p.required) o[p.name] = null;
      }
      return o;
    }
    case "array": {
      const n = Math.min(Number.isInteger(x.minItems) ? x.minItems : 0, 3);
      const items = [];
      for (let i = 0; i < n; i++) {
        const val = sample(x.items, root, depth + 1, inner);
        items.push(val === undefined ? null : val);
      }
      return items;
    }
    case "string": {
      if (formats[x.format]) return formats[x.format]();
      const n = Number.isInteger(x.minLength) ? Math.min(x.minLength, 64) : 0;
      return "x".repeat(n);
    }
    case "integer":
    case "number": {
      const integer = v.types[0] === "integer";
      let n = 0;
      if (typeof x.minimum === "number" && n < x.minimum) n = x.minimum;
      if (typeof x.exclusiveMinimum === "number" && n <= x.exclusiveMinimum) n = integer ? Math.floor(x.exclusiveMinimum) + 1 : x.exclusiveMinimum + 1;
      if (typeof x.maximum === "number" && n > x.maximum) n = x.maximum;
      if (typeof x.exclusiveMaximum === "number" && n >= x.exclusiveMaximum) n = integer ? Math.ceil(x.exclusiveMaximum) - 1 : x.exclusiveMaximum - 1;
      return integer ? Math.ceil(n) : n;
    }
    case "boolean":
      return false;
  }
  return v.nullable ? null : undefined;
}

// ---- shapes -----------------------------------------------------------

// renderShape shows what a function takes or returns: the fields of its
// Entity, with its schema's word on each (a description as help, an enum
// as choices, nullable members marked, required as the schema has it),
// or the schema's members where there is no Entity. On the input side an
// enum's choices set that member in the payload.
function renderShape(box, e, schema, input) {
  const hasSchema = described(e, schema);
  if (!e && !hasSchema) {
    box.replaceChildren(el("p", { class: "hint" }, "Nothing to describe (any JSON; usually null)."));
    return;
  }
  const root = hasSchema ? schema : undefined;
  const v = hasSchema ? view(schema, root) : null;
  const top = el(
    "li",
    { "data-field": "" },
    el("span", { class: "ftype" }, e ? e.type || "any" : label(schema, root, 0)),
    e && e.name && e.name !== e.type ? el("span", { class: "tname" }, " " + e.name) : null,
    v && v.nullable ? nullableMark() : null,
  );
  if (v && v.s.description) top.append(help(v.s.description));
  if (hasSchema) {
    const m = members(schema, root, 0);
    if (m.list.length) top.append(schemaFields(m.list, root, e ? e.fields : null, m.path, 1, input, new Set(m.refs)));
  } else if (e.fields && e.fields.length) {
    top.append(fieldList(e.fields, 1));
  }
  box.replaceChildren(el("ul", {}, top));
}

// described reports whether a schema says something to show: it is there,
// and, where there is no Entity beside it, says more than "any object, or
// null", which is how a Go plugin describes no input at all.
function described(e, schema) {
  if (schema === undefined || schema === null) return false;
  if (e || typeof schema !== "object") return true;
  const rest = Object.keys(schema).filter((k) => {
    if (k === "$schema") return false;
    if (k === "additionalProperties") return schema[k] !== true;
    if (k === "type") return !(schema.type === "object" || JSON.stringify(schema.type) === '["object","null"]');
    return true;
  });
  return rest.length > 0;
}

// maxDepth is typedesc.MaxDepth: the host refuses deeper descriptions at
// the handshake, and the console stops there too, so that no document can
// make it recurse without bound.
const maxDepth = 64;

function requiredMark(required, why) {
  return required ? el("span", { class: "req", title: why }, "required") : el("span", { class: "opt" }, "optional");
}

function nullableMark() {
  return el("span", { class: "nullable", title: "null is accepted", "data-testid": "nullable" }, "nullable");
}

function help(text) {
  return el("span", { class: "help", "data-testid": "field-help" }, text);
}

function fieldList(fields, depth) {
  if (depth > maxDepth) return el("ul", {}, el("li", { class: "hint" }, "… (deeper than " + maxDepth + " levels)"));
  return el(
    "ul",
    {},
    ...fields.map((f) => {
      const li = el(
        "li",
        { "data-field": f.name },
        el("span", { class: "fname" }, f.name),
        ": ",
        el("span", { class: "ftype" }, f.type || "any"),
        requiredMark(f.mandatory, "always sent; must be present"),
      );
      if (f.fields && f.fields.length) li.append(fieldList(f.fields, depth + 1));
      return li;
    }),
  );
}

// schemaFields lists a schema's members, typed by the Entity's fields of
// the same names where there are any. path is the keys that lead to them
// in the payload, and seen the references expanded on the way: a member
// of a type being expanded is marked recursive and not expanded again.
function schemaFields(list, root, fields, path, depth, input, seen) {
  if (depth > maxDepth) return el("ul", {}, el("li", { class: "hint" }, "… (deeper than " + maxDepth + " levels)"));
  return el(
    "ul",
    {},
    ...list.slice(0, 1000).map((p) => {
      const f = (fields || []).find((x) => x.name === p.name);
      const v = view(p.schema, root);
      const li = el(
        "li",
        { "data-field": p.name },
        el("span", { class: "fname" }, p.name),
        ": ",
        el("span", { class: "ftype" }, f ? f.type || "any" : label(p.schema, root, depth)),
        requiredMark(p.required, "the schema requires it"),
        v.nullable ? nullableMark() : null,
      );
      if (v.types[0] === "string" && (v.s.format || v.s.contentEncoding) && f) {
        li.append(el("span", { class: "fmt" }, v.s.format || v.s.contentEncoding));
      }
      if (Array.isArray(v.s.enum)) li.append(enumChoices(v.s.enum, [...path, p.name], input));
      if (v.s.description) li.append(help(v.s.description));
      const m = members(p.schema, root, depth);
      if (m.refs.some((r) => seen.has(r))) {
        li.append(el("span", { class: "fmt", title: "a value of a type this one is inside of" }, "recursive"));
      } else if (m.list.length && depth < maxDepth) {
        li.append(schemaFields(m.list, root, f ? f.fields : null, [...path, p.name, ...m.path], depth + 1, input, new Set([...seen, ...m.refs])));
      }
      return li;
    }),
  );
}

// enumChoices shows an enum's values; on the input side, as a list that
// sets the member at path in the payload.
function enumChoices(values, path, input) {
  const shown = values.slice(0, 200);
  if (!input) return el("span", { class: "choices" }, " one of " + shown.map((x) => JSON.stringify(x)).join(", "));
  const select = el(
    "select",
    { class: "choice", "data-testid": "enum-choice", "aria-label": "Set " + path.filter((k) => typeof k === "string").join(".") + " to" },
    ...shown.map((x, i) => el("option", { value: String(i) }, JSON.stringify(x))),
  );
  select.addEventListener("change", () => setPayloadMember(path, shown[Number(select.value)]));
  return select;
}

// setPayloadMember sets the member at path in the payload, when the
// payload is JSON that has every object and element on the way.
function setPayloadMember(path, value) {
  const ta = $("payload");
  let doc;
  try {
    doc = JSON.parse(ta.value);
  } catch {
    $("payload-hint").textContent = "Fix the payload's JSON first: the choice goes into it.";
    return;
  }
  let cur = doc;
  for (const k of path.slice(0, -1)) {
    if (cur === null || typeof cur !== "object" || cur[k] === undefined) return;
    cur = cur[k];
  }
  if (cur === null || typeof cur !== "object") return;
  cur[path[path.length - 1]] = value;
  ta.value = JSON.stringify(doc, null, 2);
  checkPayload();
}

function checkPayload() {
  const ta = $("payload");
  const hint = $("payload-hint");
  const text = ta.value.trim();
  if (text === "") {
    ta.removeAttribute("aria-invalid");
    hint.textContent = "Empty: the call is made without a payload.";
    return;
  }
  try {
    JSON.parse(text);
    ta.removeAttribute("aria-invalid");
    hint.textContent = "";
  } catch (err) {
    ta.setAttribute("aria-invalid", "true");
    hint.textContent = "Not valid JSON yet: " + err.message;
  }
}

function clearOutcome() {
  $("result-box").hidden = true;
  $("error-box").hidden = true;
  $("outcome").removeAttribute("data-state");
}

async function callFunction(ev) {
  ev.preventDefault();
  if (!state.selected || !state.fn) return;
  const plugin = state.selected;
  const fn = state.fn;
  const seq = state.seq;
  const button = $("call");
  let path = `api/plugins/${seg(plugin)}/call/${seg(fn)}`;
  const timeout = $("timeout").value.trim();
  if (timeout) path += `?timeout=${seg(timeout)}`;
  clearOutcome();
  $("outcome").setAttribute("data-state", "pending");
  button.disabled = true;
  button.textContent = "Calling…";
  const started = performance.now();
  const r = await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: $("payload").value });
  const ms = Math.round(performance.now() - started);
  button.textContent = "Call";
  button.disabled = !$("plugin-gone").hidden;
  if (seq !== state.seq || fn !== state.fn) return; // the user moved on
  const meta = `HTTP ${r.status} · ${ms} ms` + (r.trace ? ` · trace ${r.trace}` : "");
  if (r.ok) {
    $("result").textContent = JSON.stringify(r.body.result, null, 2);
    $("result-meta").textContent = meta;
    $("result-box").hidden = false;
    $("outcome").setAttribute("data-state", "ok");
  } else {
    const e = errorOf(r);
    $("error-code").textContent = String(e.code);
    $("error-message").textContent = e.message;
    $("error-meta").textContent = meta;
    $("error-box").hidden = false;
    $("outcome").setAttribute("data-state", "error");
  }
}

// openRPC fetches the document with the token (a plain link could not send
// it) and hands it to the browser as a download.
async function openRPC(ev) {
  const link = $("openrpc-link");
  if (link.dataset.ready === "true") return; // the blob: URL, second time round
  ev.preventDefault();
  const name = state.selected;
  if (!name) return;
  const r = await api(`api/plugins/${seg(name)}/openrpc`);
  if (name !== state.selected) return;
  if (!r.ok) {
    logLine("error", name, errorOf(r).message);
    return;
  }
  const blob = new Blob([JSON.stringify(r.body, null, 2) + "\n"], { type: "application/json" });
  link.href = URL.createObjectURL(blob);
  link.download = `${name}.openrpc.json`;
  link.dataset.ready = "true";
  link.click();
}

async function unplug() {
  const name = state.selected;
  if (!name || !window.confirm(`Unplug ${name}? It finishes its calls in flight, then disconnects.`)) return;
  $("unplug").disabled = true;
  const r = await api(`api/plugins/${seg(name)}`, { method: "DELETE" });
  if (!r.ok) {
    logLine("error", name, errorOf(r).message);
    $("unplug").disabled = false;
  }
  // The disconnected event updates the list.
}

// ---- events -----------------------------------------------------------

// logLine adds a line to the event log, at the time given or now.
function logLine(kind, name, detail, tone, at) {
  const log = $("event-log");
  const now = at && !isNaN(at) ? at : new Date();
  const item = el(
    "li",
    { "data-testid": "event", "data-kind": kind, "data-plugin": name, "data-tone": tone || undefined },
    el("time", { datetime: now.toISOString() }, now.toLocaleTimeString()),
    el("span", { class: `kind kind-${kind}` }, kind),
    name ? el("strong", {}, name) : null,
    detail ? el("code", {}, detail) : null,
  );
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(item);
  while (log.children.length > MAX_LOG) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function brief(v) {
  const s = JSON.stringify(v);
  return s === undefined ? "" : s.length > 300 ? s.slice(0, 300) + "…" : s;
}

function setStatus(stateName, text) {
  const s = $("stream-status");
  s.dataset.state = stateName;
  s.textContent = text;
}

// The event stream, read with fetch (see the top of this file). It
// reconnects after a pause when the server ends it or cannot be reached,
// and waits for a token when the server wants one.
const MAX_EVENT_TEXT = 64 << 20; // a line longer than this ends the stream
let wakeEvents = () => {};

function sleep(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    wakeEvents = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

function onStreamEvent(kind, text) {
  if (!["connected", "disconnected", "async"].includes(kind)) return;
  let data = {};
  try {
    data = JSON.parse(text);
  } catch {
    return;
  }
  let detail = brief(data.payload);
  if (kind === "connected" || kind === "disconnected") {
    const v = data.payload && data.payload.version;
    detail = v ? `version ${v}` : "";
    if (kind === "disconnected") detail += (detail ? ", " : "") + (data.graceful ? "graceful" : "not graceful");
    refreshPlugins();
    // A process that went down, or came back, has its exit listed by now,
    // most likely: log it beside the event rather than at the next poll.
    if (!data.graceful) setTimeout(refreshExits, 100);
  }
  logLine(kind, data.name || "", detail);
}

// readStream parses server-sent events from resp until it ends.
async function readStream(resp) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let kind = "";
  let data = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (data !== null) onStreamEvent(kind || "message", data);
        kind = "";
        data = null;
        continue;
      }
      if (line.startsWith(":")) continue; // subscribed, heartbeat, dropped
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "event") kind = val;
      else if (field === "data") data = data === null ? val : data + "\n" + val;
    }
    if (buf.length > MAX_EVENT_TEXT) {
      reader.cancel().catch(() => {});
      return;
    }
  }
}

async function connectEvents() {
  let pause = 500;
  for (;;) {
    if (!$("token-form").hidden) {
      await sleep(60_000); // until a token is given
      continue;
    }
    let resp = null;
    try {
      resp = await fetch("api/events", withAuth({ headers: { Accept: "text/event-stream" } }));
    } catch {
      resp = null;
    }
    if (resp && resp.status === 401) {
      const r = { status: 401, body: await resp.json().catch(() => null) };
      needToken(errorOf(r).message);
      continue;
    }
    if (resp && resp.ok) {
      setStatus("live", "Live");
      pause = 500;
      refreshPlugins(); // catch up on anything missed while away
      try {
        await readStream(resp);
      } catch {
        // the connection broke; reconnect below
      }
    } else if (resp) {
      resp.body && resp.body.cancel().catch(() => {});
    }
    setStatus("connecting", resp && !resp.ok ? `Reconnecting (HTTP ${resp.status})…` : "Reconnecting…");
    await sleep(pause);
    pause = Math.min(pause * 2, 10_000);
  }
}

// ---- wiring -----------------------------------------------------------

takeToken(); // before anything else can read or show the address

document.addEventListener("DOMContentLoaded", () => {
  $("call-form").addEventListener("submit", callFunction);
  $("payload").addEventListener("input", checkPayload);
  $("reset-payload").addEventListener("click", resetPayload);
  $("unplug").addEventListener("click", unplug);
  $("openrpc-link").addEventListener("click", openRPC);
  $("token-form").addEventListener("submit", useToken);
  $("clear-log").addEventListener("click", () => $("event-log").replaceChildren());
  refreshPlugins();
  refreshHealth();
  refreshStats();
  connectEvents();
});
