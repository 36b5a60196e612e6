// plugsock console: lists the connected plugins, shows what each function
// takes and returns, calls functions and streams events. It speaks only the
// admin API beside it (relative URLs, so it works under any mount point).
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
    resp = await fetch(path, init);
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
  return { ok: resp.ok, status: resp.status, statusText: resp.statusText, body, trace: resp.headers.get("X-Plugsock-Trace") };
}

function errorOf(r) {
  const e = (r.body && r.body.error) || {};
  return { code: e.code ?? 0, message: e.message || `HTTP ${r.status} ${r.statusText || ""}`.trim() };
}

const seg = encodeURIComponent;

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
  $("openrpc-link").href = `api/plugins/${seg(name)}/openrpc`;
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
  if (e.fields && e.fields.length) top.append(fieldList(e.fields));
  box.replaceChildren(el("ul", {}, top));
}

function fieldList(fields) {
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
      if (f.fields && f.fields.length) li.append(fieldList(f.fields));
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

function connectEvents() {
  const es = new EventSource("api/events");
  es.addEventListener("open", () => {
    setStatus("live", "Live");
    refreshPlugins(); // catch up on anything missed while away
  });
  es.addEventListener("error", () => {
    if (es.readyState === EventSource.CLOSED) setStatus("down", "Disconnected from the server; reload to retry");
    else setStatus("connecting", "Reconnecting…");
  });
  const handle = (kind) => (msg) => {
    let data = {};
    try {
      data = JSON.parse(msg.data);
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
  };
  for (const kind of ["connected", "disconnected", "async"]) es.addEventListener(kind, handle(kind));
}

// ---- wiring -----------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("call-form").addEventListener("submit", callFunction);
  $("payload").addEventListener("input", checkPayload);
  $("reset-payload").addEventListener("click", resetPayload);
  $("unplug").addEventListener("click", unplug);
  $("clear-log").addEventListener("click", () => $("event-log").replaceChildren());
  refreshPlugins();
  connectEvents();
});
