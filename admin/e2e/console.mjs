// Headless-browser test of the plugsock admin console.
//
//   node console.mjs URL [--late NAME] [--unplug NAME] [--odd NAME] [--schemas NAME] [--stream NAME] [--health NAME] [--charts NAME] [--crash NAME] [--topic NAME] [--screenshot FILE] [--artifacts DIR]
//
// URL is the console's, with ?token=TOKEN as 'plugsock serve' logs it. It
// serves the console with a plugin "calc" connected (the Calc plugin of
// admin's tests: Add, Div, Emit, Total, ...). The script loads the page,
// waits for calc, calls functions through the UI and checks what it shows.
// With --late NAME it prints "waiting-for NAME" and waits for that plugin
// to connect while the page is open; with --unplug NAME it unplugs that
// plugin through the UI; with --odd NAME it calls Hello on a Greeter plugin
// of that name, one that needs escaping in URLs; with --schemas NAME it
// checks the call form of Book on a plugin of that name that describes it
// with JSON Schema alone (admin's bookingFunctions): a date-time filled in
// as a real time, an enum's choices, descriptions, nullable members; with
// --health NAME it watches the health badge of a plugin of that name,
// healthy at first, change as the plugin's health check changes its mind:
// it prints "flip-health NAME" and waits for unhealthy with the message
// "database unreachable", then prints it again and waits for healthy with
// "recovered"; with --charts NAME it watches the activity charts of a
// plugin of that name, a Calc: once the calls/s line stands at zero it
// prints "start-calls NAME" and waits for the line to rise above zero, for
// failed calls to show (half the calls fail) and for a latency
// percentile, then prints "stop-calls NAME" and waits for the line to
// fall back to zero; with --crash NAME it selects a launched plugin of
// that name, prints "kill NAME" and waits for its exit, killed by
// SIGKILL, to be shown in its Last exit box and in the event log, and for
// it to come back with one restart counted. It also checks how the
// console keeps the token: out of the address bar, kept over a reload,
// asked for in a tab that never had it, and sent for the OpenRPC download. --screenshot saves a picture of the page at the
// end. On failure it says which step failed and why, saves
// DIR/failure.png (DIR defaults to ./artifacts beside this script), and
// exits 1.
//
// serve.mjs is the same kind of test against a running `plugsock serve`.

import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { call, check, openConsole, session, text } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { url: "", late: "", unplug: "", odd: "", schemas: "", stream: "", health: "", charts: "", crash: "", topic: "", screenshot: "", artifacts: join(here, "artifacts") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--late") opts.late = value();
    else if (a === "--unplug") opts.unplug = value();
    else if (a === "--odd") opts.odd = value();
    else if (a === "--schemas") opts.schemas = value();
    else if (a === "--stream") opts.stream = value();
    else if (a === "--topic") opts.topic = value();
    else if (a === "--health") opts.health = value();
    else if (a === "--charts") opts.charts = value();
    else if (a === "--crash") opts.crash = value();
    else if (a === "--screenshot") opts.screenshot = resolve(value());
    else if (a === "--artifacts") opts.artifacts = resolve(value());
    else if (a.startsWith("--")) usage(`unknown flag ${a}`);
    else if (!opts.url) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url) usage("the console's URL is required");
  return opts;
}

function usage(msg) {
  console.error(`console e2e: ${msg}\nusage: node console.mjs URL [--late NAME] [--unplug NAME] [--odd NAME] [--schemas NAME] [--stream NAME] [--health NAME] [--charts NAME] [--crash NAME] [--topic NAME] [--screenshot FILE] [--artifacts DIR]`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

const token = new URL(opts.url).searchParams.get("token");
if (!token) usage("the URL must carry ?token=");

await session("console e2e", opts, async (page, step) => {
  await openConsole(page, step, opts.url);

  await step("the token is taken out of the address bar and kept for the tab", async () => {
    const url = page.url();
    check(!url.includes("token") && !url.includes(token), `the address bar shows ${url}`);
    const kept = await page.evaluate(() => sessionStorage.getItem("plugsock-admin-token"));
    check(kept === token, `sessionStorage holds ${JSON.stringify(kept)}`);
  });

  await step("a reload keeps working without the token in the URL", async () => {
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector("[data-testid=stream-status][data-state=live]");
    await page.waitForSelector('[data-testid=plugin-item][data-plugin="calc"]');
    check(!page.url().includes(token), `the address bar shows ${page.url()}`);
  });

  await step("a tab without the token is asked for it, and the form takes it", async () => {
    const bare = new URL(opts.url);
    bare.search = "";
    // A new tab has a sessionStorage of its own: nothing kept.
    const fresh = await page.context().newPage();
    try {
      await fresh.goto(bare.href, { waitUntil: "domcontentloaded" });
      await fresh.waitForSelector("[data-testid=token-form]", { state: "visible" });
      const why = await text(fresh, "[data-testid=token-why]");
      check(why.includes("needs its token"), `the form says "${why}"`);
      check((await fresh.locator("[data-testid=plugin-item]").count()) === 0, "plugins are listed without the token");
      await fresh.fill("[data-testid=token-input]", "not-the-token");
      await fresh.click("[data-testid=token-submit]");
      await fresh.waitForSelector('[data-testid=token-why]:has-text("the admin token is wrong")', { state: "visible" });
      await fresh.fill("[data-testid=token-input]", token);
      await fresh.click("[data-testid=token-submit]");
      await fresh.waitForSelector('[data-testid=plugin-item][data-plugin="calc"]');
      await fresh.waitForSelector("[data-testid=stream-status][data-state=live]");
      check(await fresh.locator("[data-testid=token-form]").isHidden(), "the form is still shown");
    } finally {
      await fresh.close();
    }
  });

  await step("plugin calc is listed", async () => {
    await page.waitForSelector('[data-testid=plugin-item][data-plugin="calc"]');
  });

  if (opts.late) {
    await step(`plugin ${opts.late} appears when it connects`, async () => {
      console.log(`waiting-for ${opts.late}`);
      await page.waitForSelector(`[data-testid=plugin-item][data-plugin="${opts.late}"]`);
      await page.waitForSelector(`[data-testid=event][data-kind=connected][data-plugin="${opts.late}"]`);
    });
  }

  await step("functions and shapes of calc.Add are shown", async () => {
    await page.click('[data-testid=plugin-item][data-plugin="calc"]');
    await page.waitForSelector('[data-testid=plugin-name]:text-is("calc")');
    const fns = await page.locator("[data-testid=function-item]").evaluateAll((els) => els.map((e) => e.dataset.function));
    check(["Add", "Div", "Emit", "Total"].every((f) => fns.includes(f)), `function list is ${JSON.stringify(fns)}`);
    await page.click('[data-testid=function-item][data-function="Add"]');
    const a = await text(page, '[data-testid=input-shape] li[data-field="a"]');
    check(/a:\s*int(?![0-9])/.test(a) && /required|optional/.test(a), `input field a reads "${a}"`);
    const out = await text(page, "[data-testid=output-shape]");
    check(out.includes("int"), `output shape reads "${out}"`);
    const skeleton = JSON.parse(await page.inputValue("[data-testid=payload]"));
    check(JSON.stringify(skeleton) === '{"a":0,"b":0}', `payload skeleton is ${JSON.stringify(skeleton)}`);
  });

  await step("the OpenRPC document downloads, fetched with the token", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=openrpc-link]")]);
    check(download.suggestedFilename() === "calc.openrpc.json", `the file is called ${download.suggestedFilename()}`);
    const path = await download.path();
    const doc = JSON.parse(await readFile(path, "utf8"));
    check(doc.openrpc === "1.3.2" && doc.info.title === "calc", `the document is ${JSON.stringify(doc).slice(0, 200)}`);
  });

  if (opts.odd) {
    await step(`a plugin named ${opts.odd} is described and called`, async () => {
      const state = await call(page, opts.odd, "Hello", '"odd"');
      check(state === "ok", `outcome is ${state}: ${await text(page, "[data-testid=outcome]")}`);
      const result = await text(page, "[data-testid=result]");
      check(JSON.parse(result) === "hello, odd", `result shows "${result}"`);
    });
  }

  await step("calling calc.Add shows the result", async () => {
    const state = await call(page, "calc", "Add", '{"a": 2, "b": 3}');
    check(state === "ok", `outcome is ${state}: ${await text(page, "[data-testid=outcome]")}`);
    const result = await text(page, "[data-testid=result]");
    check(JSON.parse(result) === 5, `result shows "${result}"`);
    const meta = await text(page, "[data-testid=result-meta]");
    check(meta.includes("HTTP 200") && meta.includes("trace"), `result meta reads "${meta}"`);
  });

  await step("a method's error shows its code and message", async () => {
    const state = await call(page, "calc", "Div", '{"a": 1, "b": 0}');
    check(state === "error", `outcome is ${state}`);
    const code = await text(page, "[data-testid=error-code]");
    const msg = await text(page, "[data-testid=error-message]");
    check(code === "-32000" && msg === "division by zero", `error shows code ${code}, message "${msg}"`);
  });

  await step("a payload that is not JSON is flagged and refused", async () => {
    await page.click('[data-testid=function-item][data-function="Add"]');
    await page.fill("[data-testid=payload]", '{"a": 1,');
    const hint = await text(page, "[data-testid=payload-hint]");
    check(hint.includes("Not valid JSON"), `payload hint reads "${hint}"`);
    check((await page.getAttribute("[data-testid=payload]", "aria-invalid")) === "true", "payload is not marked invalid");
    await page.click("[data-testid=call]");
    await page.waitForSelector("[data-testid=outcome][data-state=error]");
    const meta = await text(page, "[data-testid=error-meta]");
    const msg = await text(page, "[data-testid=error-message]");
    check(meta.includes("HTTP 400") && msg.includes("not JSON"), `error reads "${meta}" / "${msg}"`);
  });

  await step("async data from a call reaches the event log", async () => {
    const state = await call(page, "calc", "Emit", '["hello from the browser"]');
    check(state === "ok", `outcome is ${state}: ${await text(page, "[data-testid=outcome]")}`);
    await page.waitForSelector('[data-testid=event][data-kind=async][data-plugin="calc"]:has-text("hello from the browser")');
  });

  if (opts.unplug) {
    await step(`unplugging ${opts.unplug} removes it`, async () => {
      await page.click(`[data-testid=plugin-item][data-plugin="${opts.unplug}"]`);
      await page.waitForSelector(`[data-testid=plugin-name]:text-is("${opts.unplug}")`);
      await page.click("[data-testid=unplug]");
      await page.waitForSelector(`[data-testid=event][data-kind=disconnected][data-plugin="${opts.unplug}"]:has-text("graceful")`);
      await page.waitForSelector(`[data-testid=plugin-item][data-plugin="${opts.unplug}"]`, { state: "detached" });
      await page.waitForSelector("[data-testid=plugin-gone]", { state: "visible" });
    });
  }

  await step("nested shapes render (calc.Total)", async () => {
    const state = await call(page, "calc", "Total", '{\n  "id": 7,\n  "items": [\n    {"name": "tea", "price": 2.5},\n    {"name": "cake", "price": 3}\n  ]\n}');
    check(state === "ok", `outcome is ${state}`);
    check(JSON.parse(await text(page, "[data-testid=result]")) === 5.5, "Total is not 5.5");
    const price = await text(page, '[data-testid=input-shape] li[data-field="items"] li[data-field="price"]');
    check(price.includes("float64"), `items.price reads "${price}"`);
    const note = await text(page, '[data-testid=input-shape] li[data-field="note"]');
    check(note.includes("optional"), `note reads "${note}"`);
  });

  if (opts.schemas) {
    await step(`the call form is filled from ${opts.schemas}.Book's schema`, async () => {
      await page.click(`[data-testid=plugin-item][data-plugin="${opts.schemas}"]`);
      await page.waitForSelector(`[data-testid=plugin-name]:text-is("${opts.schemas}")`);
      await page.click('[data-testid=function-item][data-function="Book"]');
      await page.waitForSelector(`[data-testid=function-title]:text-is("${opts.schemas}.Book")`);
      const payload = JSON.parse(await page.inputValue("[data-testid=payload]"));
      // A real time, now, not Go's zero time: one the schema accepts.
      const when = payload.when;
      check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(when) && Math.abs(Date.parse(when) - Date.now()) < 86_400_000,
        `when is prefilled as ${JSON.stringify(when)}`);
      check(payload.kind === "talk", `kind is prefilled as ${JSON.stringify(payload.kind)}`);
      check(payload.seats === 1, `seats is prefilled as ${JSON.stringify(payload.seats)}, not within its bounds`);
      check(payload.title === "x", `title is prefilled as ${JSON.stringify(payload.title)}, shorter than its minLength`);

      const title = await text(page, '[data-testid=input-shape] li[data-field="title"]');
      check(title.includes("What is on.") && title.includes("required"), `title reads "${title}"`);
      const seats = await text(page, '[data-testid=input-shape] li[data-field="seats"]');
      check(seats.includes("nullable") && seats.includes("optional"), `seats reads "${seats}"`);
      const room = await text(page, '[data-testid=input-shape] li[data-field="room"]');
      check(room.includes("nullable"), `room reads "${room}"`);
      const roomName = await text(page, '[data-testid=input-shape] li[data-field="room"] li[data-field="name"]');
      check(roomName.includes("string"), `room.name reads "${roomName}"`);

      const choice = '[data-testid=input-shape] li[data-field="kind"] [data-testid=enum-choice]';
      const options = await page.locator(`${choice} option`).allTextContents();
      check(JSON.stringify(options) === JSON.stringify(['"talk"', '"workshop"']), `kind offers ${JSON.stringify(options)}`);
      await page.selectOption(choice, { label: '"workshop"' });
      const chosen = JSON.parse(await page.inputValue("[data-testid=payload]"));
      check(chosen.kind === "workshop" && chosen.when === when, `after choosing, the payload is ${JSON.stringify(chosen)}`);

      await page.click("[data-testid=call]");
      await page.waitForSelector("[data-testid=outcome][data-state=ok]", { timeout: 15_000 });
      const result = JSON.parse(await text(page, "[data-testid=result]"));
      check(result.kind === "workshop" && result.when === when, `the result is ${JSON.stringify(result)}`);
    });
  }
  if (opts.topic) {
    await step(`the event store's topic ${opts.topic} and its subscription are shown, the offset committed`, async () => {
      const row = `[data-testid=topic-row][data-topic="${opts.topic}"]`;
      await page.waitForSelector(row, { timeout: 15_000 });
      check((await text(page, `${row} td:nth-child(3)`)) === "3", "the topic's last offset is 3");
      const sub = `[data-testid=subscription-row][data-topic="${opts.topic}"]`;
      await page.waitForFunction((sel) => document.querySelector(sel + " td:nth-child(3)")?.textContent === "3", sub, { timeout: 15_000 });
      check((await text(page, `${sub} td:nth-child(4)`)) === "0", "no lag once every event is acknowledged");
    });
  }
  if (opts.stream) {
    await step(`the open stream of ${opts.stream}.Count is shown, its counts moving`, async () => {
      await page.click(`[data-testid=plugin-item][data-plugin="${opts.stream}"]`);
      await page.waitForSelector(`[data-testid=plugin-name]:text-is("${opts.stream}")`);
      const row = '[data-testid=stream-row][data-method="Count"]';
      await page.waitForSelector(row, { timeout: 15_000 });
      const received = async () => Number(await text(page, `${row} td:nth-child(4)`));
      const first = await received();
      await page.waitForFunction(
        ([sel, n]) => Number(document.querySelector(sel + " td:nth-child(4)")?.textContent) > n,
        [row, first], { timeout: 15_000 });
      check((await text(page, "[data-testid=stream-count]")) === "1", "one stream is counted");
      await page.click('[data-testid=function-item][data-function="Count"]');
      await page.waitForSelector("[data-testid=stream-note]:visible");
      const note = await text(page, "[data-testid=stream-note]");
      check(note.includes("source"), `the note reads "${note}"`);
      check(await page.isDisabled("[data-testid=call]"), "a stream cannot be called from the form");
    });
  }
  if (opts.health) {
    await step(`the health badge of ${opts.health} follows its health check`, async () => {
      const badge = (status) => `[data-testid=plugin-item][data-plugin="${opts.health}"] [data-testid=health-badge][data-status=${status}]`;
      await page.waitForSelector(badge("healthy"), { timeout: 15_000 });
      await page.click(`[data-testid=plugin-item][data-plugin="${opts.health}"]`);
      await page.waitForSelector(`[data-testid=plugin-name]:text-is("${opts.health}")`);
      await page.waitForSelector("[data-testid=health-status][data-status=healthy]:visible");
      check((await text(page, "[data-testid=health-status]")) === "healthy", "the view says healthy");

      console.log(`flip-health ${opts.health}`);
      await page.waitForSelector(badge("unhealthy"), { timeout: 15_000 });
      await page.waitForSelector('[data-testid=health-message]:text-is("database unreachable")', { timeout: 15_000 });
      check((await text(page, "[data-testid=health-status]")) === "unhealthy", "the view says unhealthy");
      const title = await page.getAttribute(badge("unhealthy"), "title");
      check(title === "database unreachable", `the badge's title is ${JSON.stringify(title)}`);
      check(/^since .+ · checked .+$/.test(await text(page, "[data-testid=health-meta]")), "the view says since when and when checked");
      check((await page.locator('[data-testid=plugin-item][data-plugin="calc"] [data-testid=health-badge]').count()) === 0,
        "a plugin without a health check has no badge");

      console.log(`flip-health ${opts.health}`);
      await page.waitForSelector(badge("healthy"), { timeout: 15_000 });
      await page.waitForSelector('[data-testid=health-message]:text-is("recovered")', { timeout: 15_000 });
    });
  }
  if (opts.charts) {
    await step(`the charts of ${opts.charts} move while calls run`, async () => {
      await page.click(`[data-testid=plugin-item][data-plugin="${opts.charts}"]`);
      await page.waitForSelector(`[data-testid=plugin-name]:text-is("${opts.charts}")`);
      await page.waitForSelector("[data-testid=activity-view]:visible");
      const chart = "[data-testid=calls-chart]";
      // Truthy once the chart's newest point is above zero.
      const value = (sel) => Number(document.querySelector(sel)?.dataset.value || "0") > 0;
      // An interval without calls first, so that the line is seen to rise.
      await page.waitForSelector(`${chart}[data-value="0"]`, { state: "attached" });
      const flat = await page.getAttribute(`${chart} path`, "d");
      check(/^M[\d.]+ 34\.0/.test(flat), `the idle line is not at the bottom: d="${flat}"`);

      console.log(`start-calls ${opts.charts}`);
      await page.waitForFunction(value, chart);
      const moving = await page.getAttribute(`${chart} path`, "d");
      check(moving !== flat, "the calls/s line did not change");
      const now = Number(await text(page, "[data-testid=calls-now]"));
      check(now > 0, `calls/s reads ${now}`);
      // Every other call fails (Div by zero): the share of errors rises.
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.value || "0") > 0, "[data-testid=errors-chart]");
      check(/^\d+(\.\d)? %$/.test(await text(page, "[data-testid=errors-now]")), "the error share is not a percentage");
      await page.waitForFunction(() => (document.querySelector("[data-testid=latency-chart]")?.dataset.value || "") !== "");
      const latency = await text(page, "[data-testid=latency-now]");
      check(/p50 [\d.]+ (µs|ms|s) p90 [\d.]+ (µs|ms|s) p99 [\d.]+ (µs|ms|s)/.test(latency), `latency reads "${latency}"`);
      check((await page.getAttribute("[data-testid=latency-chart] path.p50", "d")) !== "", "the p50 line is not drawn");
      const calls = Number(await page.getAttribute("[data-testid=activity-totals] [data-testid=calls]", "data-value"));
      const failed = Number(await page.getAttribute("[data-testid=activity-totals] [data-testid=failed]", "data-value"));
      check(calls > 0 && failed > 0 && failed < calls, `totals read ${calls} calls, ${failed} failed`);

      console.log(`stop-calls ${opts.charts}`);
      await page.waitForSelector(`${chart}[data-value="0"]`, { state: "attached" });
    });
  }
  if (opts.crash) {
    await step(`a SIGKILLed plugin's exit is shown (${opts.crash})`, async () => {
      const sig = "killed by signal 9 (SIGKILL)";
      await page.click(`[data-testid=plugin-item][data-plugin="${opts.crash}"]`);
      await page.waitForSelector(`[data-testid=plugin-name]:text-is("${opts.crash}")`);
      await page.waitForSelector('[data-testid=activity-totals] [data-testid=restarts][data-value="0"]', { state: "attached" });
      check(await page.locator("[data-testid=exit-view]").isHidden(), "an exit is shown before the plugin exited");

      console.log(`kill ${opts.crash}`);
      await page.waitForSelector(`[data-testid=exit-status]:text-is("${sig}")`);
      const meta = await text(page, "[data-testid=exit-meta]");
      check(/^pid \d+ · .+ · restarting in .+$/.test(meta), `the exit's details read "${meta}"`);
      const stderr = await text(page, "[data-testid=exit-stderr]");
      check(stderr.includes(`${opts.crash}: serving`), `its standard error reads "${stderr}"`);
      await page.waitForSelector(`[data-testid=event][data-kind=exited][data-plugin="${opts.crash}"]:has-text("${sig}")`);
      const logged = await text(page, `[data-testid=event][data-kind=exited][data-plugin="${opts.crash}"] code`);
      check(/^pid \d+ killed by signal 9 \(SIGKILL\); restarting in .+$/.test(logged), `the event log reads "${logged}"`);
      await page.waitForSelector(`[data-testid=event][data-kind=disconnected][data-plugin="${opts.crash}"]:has-text("not graceful")`);

      // The host starts it again: it is back, and its restart counted.
      await page.waitForSelector(`[data-testid=event][data-kind=connected][data-plugin="${opts.crash}"]`);
      await page.waitForSelector('[data-testid=activity-totals] [data-testid=restarts][data-value="1"]', { state: "attached" });
      await page.waitForSelector("[data-testid=plugin-gone]", { state: "hidden" });
      check((await text(page, "[data-testid=exits]")) === "exits: 1 signalled", "the exits are not counted by reason");
      check((await text(page, "[data-testid=exit-status]")) === sig, "the last exit is no longer shown once it is back");
    });
  }
});
