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
        p.version ? el("span", { class: "version" }, p.version) : null,
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
  }
  renderPluginList();
  $("empty-state").hidden = true;
  $("plugin-view").hidden = false;
  $("plugin-name").textContent = name;
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
  $("call").disabled = false;
  $("plugin-version").textContent = r.body.version ? "v" + r.body.version.replace(/^v/, "") : "";
  if (state.fn && !(state.info.functions || {})[state.fn]) {
    state.fn = null;
    $("function-view").hidden = true;
  }
  renderFunctionList();
}

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
  renderShape($("input-shape"), fn.input);
  renderShape($("output-shape"), fn.output);
  resetPayload();
  clearOutcome();
}

function resetPayload() {
  const fn = state.info && state.fn && state.info.functions[state.fn];
  const sk = skeleton(fn && fn.input);
  $("payload").value = sk === null ? "" : JSON.stringify(sk, null, 2);
  checkPayload();
}

// skeleton returns a value of the shape an Entity describes, with zero
// values, for the user to fill in.
function skeleton(e) {
  return e ? zero(e.type || "any", e.fields, 0) : null;
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

function renderShape(box, e) {
  if (!e) {
    box.replaceChildren(el("p", { class: "hint" }, "Nothing to describe (any JSON; usually null)."));
    return;
  }
  const top = el("li", { "data-field": "" }, el("span", { class: "ftype" }, e.type || "any"), e.name && e.name !== e.type ? el("span", { class: "tname" }, " " + e.name) : null);
  if (e.fields && e.fields.length) top.append(fieldList(e.fields, 1));
  box.replaceChildren(el("ul", {}, top));
}

// maxDepth is typedesc.MaxDepth: the host refuses deeper descriptions at
// the handshake, and the console stops there too, so that no document can
// make it recurse without bound.
const maxDepth = 64;

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
        f.mandatory ? el("span", { class: "req", title: "always sent; must be present" }, "required") : el("span", { class: "opt" }, "optional"),
      );
      if (f.fields && f.fields.length) li.append(fieldList(f.fields, depth + 1));
      return li;
    }),
  );
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

function logLine(kind, name, detail) {
  const log = $("event-log");
  const now = new Date();
  const item = el(
    "li",
    { "data-testid": "event", "data-kind": kind, "data-plugin": name },
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
  connectEvents();
});
