// What the browser tests of the plugsock console share: a headless Chromium
// session that runs named steps, and the page interactions they use.
//
// Chromium is Debian's (/usr/bin/chromium, or $PLUGSOCK_CHROMIUM), driven
// by playwright-core; nothing is downloaded.

import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const WAIT = 15_000; // for any one thing to appear
const OVERALL = 120_000;

// StepError is a check that failed: its message is the whole story, no
// stack trace needed.
export class StepError extends Error {}

export function check(cond, msg) {
  if (!cond) throw new StepError(msg);
}

// text returns the text of the first element matching selector.
export async function text(page, selector) {
  return (await page.locator(selector).first().textContent({ timeout: WAIT })) ?? "";
}

// call selects plugin.fn, puts payload in the editor, clicks Call and
// returns the outcome's state ("ok" or "error") once it is shown.
export async function call(page, plugin, fn, payload) {
  await page.click(`[data-testid=plugin-item][data-plugin="${plugin}"]`);
  await page.waitForSelector(`[data-testid=plugin-name]:text-is("${plugin}")`);
  await page.click(`[data-testid=function-item][data-function="${fn}"]`);
  await page.waitForSelector(`[data-testid=function-title]:text-is("${plugin}.${fn}")`, { timeout: WAIT });
  await page.fill("[data-testid=payload]", payload);
  await page.click("[data-testid=call]");
  await page.waitForFunction(
    () => ["ok", "error"].includes(document.querySelector("[data-testid=outcome]")?.dataset.state),
    null,
    { timeout: WAIT },
  );
  return page.locator("[data-testid=outcome]").getAttribute("data-state");
}

// openConsole is the first two steps of every test: the page loads and
// its event stream goes live.
export async function openConsole(page, step, url) {
  await step("load the console", async () => {
    const resp = await page.goto(url, { waitUntil: "domcontentloaded" });
    check(resp && resp.ok(), `GET ${url} answered ${resp && resp.status()}`);
    check((await page.title()) === "plugsock console", `title is "${await page.title()}"`);
  });
  await step("event stream goes live", async () => {
    await page.waitForSelector("[data-testid=stream-status][data-state=live]");
  });
}

// session runs body(page, step) in a fresh headless Chromium, started with
// opts.args as extra command-line flags. Each step
// prints "ok   NAME (N ms)". Afterwards it checks that the page reported
// no errors of its own and, with opts.screenshot, saves a picture. On
// failure it says which step failed and why, saves opts.artifacts/failure.png
// and sets the exit status to 1. label prefixes its own messages.
export async function session(label, opts, body) {
  const profile = await mkdtemp(join(tmpdir(), "plugsock-e2e-"));
  const problems = []; // errors the page itself reported
  let current = "start";
  let context;
  let page;
  const step = async (name, fn) => {
    current = name;
    const started = Date.now();
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  };
  const watchdog = setTimeout(() => {
    console.error(`${label}: FAILED: gave up after ${OVERALL / 1000}s at step "${current}"`);
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
        ...(opts.args || []),
      ],
      viewport: { width: 1280, height: 860 },
      timeout: 60_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(WAIT);
    page.on("pageerror", (err) => problems.push(`uncaught error in the page: ${err.message}`));
    page.on("console", (msg) => {
      // Chromium reports every 4xx/5xx response as a console error; the
      // tests' error paths cause those on purpose.
      // opts.expectedConsole(text) tells others a test causes.
      const expected = opts.expectedConsole && opts.expectedConsole(msg.text());
      if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource") && !expected) {
        problems.push(`console error: ${msg.text()}`);
      }
    });
    page.on("dialog", (d) => d.accept()); // the Unplug confirmation

    await body(page, step);

    await step("the page reported no errors", async () => {
      check(problems.length === 0, problems.join("; "));
    });
    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot, fullPage: true });
      console.log(`screenshot: ${opts.screenshot}`);
    }
    console.log(`${label}: all steps passed`);
  } catch (err) {
    const why = err instanceof StepError ? err.message : String(err && err.stack ? err.stack : err);
    console.error(`${label}: FAILED at step "${current}": ${why}`);
    if (problems.length) console.error(`the page reported: ${problems.join("; ")}`);
    if (page) {
      try {
        await mkdir(opts.artifacts, { recursive: true });
        const shot = join(opts.artifacts, "failure.png");
        await page.screenshot({ path: shot, fullPage: true });
        console.error(`${label}: screenshot of the page saved to ${shot}`);
      } catch (shotErr) {
        console.error(`${label}: could not save a screenshot: ${shotErr.message}`);
      }
    }
    process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
    if (context) await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true }).catch(() => {});
  }
}
