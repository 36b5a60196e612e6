// Headless-browser test of the plugsock admin console.
//
//   node console.mjs URL [--late NAME] [--unplug NAME] [--screenshot FILE] [--artifacts DIR]
//
// URL serves the console with a plugin "calc" connected (the Calc plugin of
// admin's tests: Add, Div, Emit, Total, ...). The script loads the page,
// waits for calc, calls functions through the UI and checks what it shows.
// With --late NAME it prints "waiting-for NAME" and waits for that plugin
// to connect while the page is open; with --unplug NAME it unplugs that
// plugin through the UI. --screenshot saves a picture of the page at the
// end. On failure it says which step failed and why, saves
// DIR/failure.png (DIR defaults to ./artifacts beside this script), and
// exits 1.
//
// Chromium is Debian's (/usr/bin/chromium, or $PLUGSOCK_CHROMIUM), driven
// by playwright-core; nothing is downloaded.

import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const WAIT = 15_000; // for any one thing to appear
const OVERALL = 120_000;

function parseArgs(argv) {
  const opts = { url: "", late: "", unplug: "", screenshot: "", artifacts: join(here, "artifacts") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--late") opts.late = value();
    else if (a === "--unplug") opts.unplug = value();
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
  console.error(`console e2e: ${msg}\nusage: node console.mjs URL [--late NAME] [--unplug NAME] [--screenshot FILE] [--artifacts DIR]`);
  process.exit(2);
}

class StepError extends Error {}

const opts = parseArgs(process.argv.slice(2));
let current = "start";
const problems = []; // errors the page itself reported

async function step(name, fn) {
  current = name;
  const started = Date.now();
  await fn();
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

function check(cond, msg) {
  if (!cond) throw new StepError(msg);
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent({ timeout: WAIT })) ?? "";
}

// call selects plugin.fn, puts payload in the editor, clicks Call and
// returns the outcome's state ("ok" or "error") once it is shown.
async function call(page, plugin, fn, payload) {
  await page.click(`[data-testid=plugin-item][data-plugin="${plugin}"]`);
  await page.click(`[data-testid=function-item][data-function="${fn}"]`);
  await page.waitForSelector(`[data-testid=function-title]:text-is("${plugin}.${fn}")`, { timeout: WAIT });
  await page.fill("[data-testid=payload]", payload);
  await page.click("[data-testid=call]");
  const outcome = page.locator("[data-testid=outcome]");
  await page.waitForFunction(
    () => ["ok", "error"].includes(document.querySelector("[data-testid=outcome]")?.dataset.state),
    null,
    { timeout: WAIT },
  );
  return outcome.getAttribute("data-state");
}

async function main() {
  const profile = await mkdtemp(join(tmpdir(), "plugsock-e2e-"));
  let context;
  let page;
  const watchdog = setTimeout(() => {
    console.error(`console e2e: FAILED: gave up after ${OVERALL / 1000}s at step "${current}"`);
    process.exit(1);
  }, OVERALL);
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.PLUGSOCK_CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 860 },
      timeout: 60_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(WAIT);
    page.on("pageerror", (err) => problems.push(`uncaught error in the page: ${err.message}`));
    page.on("console", (msg) => {
      // Chromium reports every 4xx/5xx response as a console error; the
      // error paths below cause those on purpose.
      if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
        problems.push(`console error: ${msg.text()}`);
      }
    });
    page.on("dialog", (d) => d.accept()); // the Unplug confirmation

    await step("load the console", async () => {
      const resp = await page.goto(opts.url, { waitUntil: "domcontentloaded" });
      check(resp && resp.ok(), `GET ${opts.url} answered ${resp && resp.status()}`);
      check((await page.title()) === "plugsock console", `title is "${await page.title()}"`);
    });

    await step("event stream goes live", async () => {
      await page.waitForSelector("[data-testid=stream-status][data-state=live]");
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
      check(/a:\s*int/.test(a) && a.includes("required"), `input field a reads "${a}"`);
      const out = await text(page, "[data-testid=output-shape]");
      check(out.includes("int"), `output shape reads "${out}"`);
      const skeleton = JSON.parse(await page.inputValue("[data-testid=payload]"));
      check(JSON.stringify(skeleton) === '{"a":0,"b":0}', `payload skeleton is ${JSON.stringify(skeleton)}`);
    });

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
      check(price.includes("float64") && price.includes("required"), `items.price reads "${price}"`);
      const note = await text(page, '[data-testid=input-shape] li[data-field="note"]');
      check(note.includes("optional"), `note reads "${note}"`);
    });

    await step("the page reported no errors", async () => {
      check(problems.length === 0, problems.join("; "));
    });

    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot, fullPage: true });
      console.log(`screenshot: ${opts.screenshot}`);
    }
    console.log("console e2e: all steps passed");
  } catch (err) {
    const why = err instanceof StepError ? err.message : String(err && err.stack ? err.stack : err);
    console.error(`console e2e: FAILED at step "${current}": ${why}`);
    if (problems.length) console.error(`the page reported: ${problems.join("; ")}`);
    if (page) {
      try {
        await mkdir(opts.artifacts, { recursive: true });
        const shot = join(opts.artifacts, "failure.png");
        await page.screenshot({ path: shot, fullPage: true });
        console.error(`console e2e: screenshot of the page saved to ${shot}`);
      } catch (shotErr) {
        console.error(`console e2e: could not save a screenshot: ${shotErr.message}`);
      }
    }
    process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
    if (context) await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true }).catch(() => {});
  }
}

await main();
