// Headless-browser test of the admin API against web pages that attack it
// (issue 9 B8 and A1).
//
//   node rebinding.mjs URL --victim NAME [--screenshot FILE] [--artifacts DIR]
//
// URL is the console's, http://127.0.0.1:PORT/?token=TOKEN, with a plugin
// NAME connected whose functions include Hit. Chromium runs with
// --host-resolver-rules mapping evil.example to 127.0.0.1, which is what DNS
// rebinding achieves: a page the attacker served as http://evil.example:PORT/
// then reaches the admin server under the same origin, so the browser lets
// it read every answer. The page is stood in for by a routed response; its
// requests go to the admin server over the network. Even holding the token,
// it must not read or call anything: every answer is the server's 403 for
// a host it does not answer to. Then the same page tries the admin server
// at 127.0.0.1 directly, cross-site: an <img> of the OpenRPC document and
// a no-cors POST. Their answers are opaque to the page; the Go test checks
// in the server's log that both were refused, and that NAME was never
// called.
//
// As a control, the real console at URL first loads and lists NAME, so the
// browser and the resolver rule are known to work.

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { check, openConsole, session } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { url: "", victim: "", screenshot: "", artifacts: join(here, "artifacts") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--victim") opts.victim = value();
    else if (a === "--screenshot") opts.screenshot = resolve(value());
    else if (a === "--artifacts") opts.artifacts = resolve(value());
    else if (a.startsWith("--")) usage(`unknown flag ${a}`);
    else if (!opts.url) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url || !opts.victim) usage("the console's URL and --victim are required");
  return opts;
}

function usage(msg) {
  console.error(`rebinding e2e: ${msg}\nusage: node rebinding.mjs URL --victim NAME [--screenshot FILE] [--artifacts DIR]`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const real = new URL(opts.url);
const token = real.searchParams.get("token");
if (!token) usage("the URL must carry ?token=");
const evil = `http://evil.example:${real.port}/`;
// Chromium's own Local Network Access checks would stop a public page's
// requests to a loopback address (when the user has not allowed them);
// other browsers, and older ones, have none. The server must not depend on
// them, so they are off here: what is tested is the server's defence.
opts.args = ["--host-resolver-rules=MAP evil.example 127.0.0.1", "--disable-features=LocalNetworkAccessChecks"];
// Chromium reports the refused cross-origin reads on the console; they are
// what this test causes on purpose.
opts.expectedConsole = (text) => text.includes("CORS policy") || text.includes("EventSource");

const refusedHost = "is not a name this admin server answers to";

await session("rebinding e2e", opts, async (page, step) => {
  await openConsole(page, step, opts.url);
  await step(`the real console lists ${opts.victim}`, async () => {
    await page.waitForSelector(`[data-testid=plugin-item][data-plugin="${opts.victim}"]`);
  });

  await step(`a page at ${evil} loads (the attacker's, before rebinding)`, async () => {
    // Only the navigation is the attacker's; the page's own requests
    // for / go to the network, and so to the admin server.
    await page.context().route(evil, (route) =>
      route.request().isNavigationRequest()
        ? route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>cute cats</title><p>nothing to see</p>" })
        : route.continue(),
    );
    const resp = await page.goto(evil, { waitUntil: "domcontentloaded" });
    check(resp && resp.ok() && (await page.title()) === "cute cats", `the page did not load: ${resp && resp.status()}`);
  });

  await step("after rebinding it can read and call nothing, even with the token", async () => {
    const results = await page.evaluate(
      async ({ token, victim }) => {
        const auth = { Authorization: "Bearer " + token };
        const tries = [
          ["GET", "/api/plugins", {}],
          ["GET", "/api/plugins", auth],
          ["GET", `/api/plugins/${encodeURIComponent(victim)}`, auth],
          ["GET", `/api/plugins/${encodeURIComponent(victim)}/openrpc`, auth],
          ["GET", "/api/health", auth],
          ["POST", `/api/plugins/${encodeURIComponent(victim)}/call/Hit`, auth, "{}"],
          ["POST", "/api/broadcast/Hit", auth, "{}"],
          ["POST", "/api/broadcast/$%2Fshutdown", auth, ""],
          ["DELETE", `/api/plugins/${encodeURIComponent(victim)}`, auth],
          ["GET", "/", {}],
          ["GET", "/assets/console.js", {}],
        ];
        const out = [];
        for (const [method, path, headers, body] of tries) {
          try {
            const r = await fetch(path, { method, headers, body });
            out.push({ method, path, status: r.status, body: await r.text() });
          } catch (err) {
            out.push({ method, path, status: 0, body: String(err) });
          }
        }
        // The event stream, as EventSource would open it.
        const es = await new Promise((resolve) => {
          const s = new EventSource("/api/events");
          const done = (how) => {
            s.close();
            resolve(how);
          };
          s.onopen = () => done("open");
          s.onerror = () => done("error");
          setTimeout(() => done("timeout"), 5000);
        });
        out.push({ method: "EventSource", path: "/api/events", status: es === "error" ? 403 : es, body: "" });
        return out;
      },
      { token, victim: opts.victim },
    );
    for (const r of results) {
      console.log(`     ${r.method} ${r.path} -> ${r.status}`);
      check(r.status === 403, `${r.method} ${r.path} answered ${r.status}: ${r.body.slice(0, 300)}`);
      if (r.method !== "EventSource") {
        // The server itself refused it, naming the host: the request did
        // reach it, and was turned away.
        check(r.body.includes(refusedHost), `${r.method} ${r.path} was refused, but not for its host: ${r.body.slice(0, 300)}`);
        check(!r.body.includes(`"${opts.victim}"`) && !r.body.includes("Hit"), `${r.method} ${r.path} leaked plugin data: ${r.body.slice(0, 300)}`);
      }
    }
  });

  await step("cross-site requests to 127.0.0.1 are refused too (an <img>, a no-cors POST)", async () => {
    const base = `http://127.0.0.1:${real.port}`;
    const outcome = await page.evaluate(
      async ({ base, victim }) => {
        const img = await new Promise((resolve) => {
          const i = new Image();
          i.onload = () => resolve("load");
          i.onerror = () => resolve("error");
          i.src = `${base}/api/plugins/${encodeURIComponent(victim)}/openrpc?from=img`;
        });
        let post = "sent";
        try {
          await fetch(`${base}/api/plugins/${encodeURIComponent(victim)}/call/Hit?from=no-cors`, { method: "POST", mode: "no-cors", body: "{}" });
        } catch (err) {
          post = String(err);
        }
        let read = "read";
        try {
          await (await fetch(`${base}/api/plugins`)).text();
        } catch {
          read = "blocked";
        }
        return { img, post, read };
      },
      { base, victim: opts.victim },
    );
    check(outcome.img === "error", `the <img> ${outcome.img}ed`);
    check(outcome.read === "blocked", "the page read the plugin list across origins");
    console.log(`     img: ${outcome.img}, no-cors POST: ${outcome.post}, cors GET: ${outcome.read}`);
    // Whether the server refused them is for the Go test to see in its log.
    console.log("cross-site requests sent");
  });

  await step("the real console still lists the plugin", async () => {
    await page.goto(`${real.origin}/`, { waitUntil: "domcontentloaded" });
    // This tab kept the token for the real origin from the first visit.
    await page.waitForSelector(`[data-testid=plugin-item][data-plugin="${opts.victim}"]`);
  });
});
