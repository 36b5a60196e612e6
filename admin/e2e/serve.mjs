// Headless-browser test of the console of a running `plugsock serve`, with
// real plugin processes connected to it.
//
//   node serve.mjs URL --plugin NAME@VERSION ... --call JSON ... [--screenshot FILE] [--artifacts DIR]
//
// URL is the serve command's admin address. Each --plugin must be listed,
// with its version, and nothing else. Each --call is one call made through
// the console's form, and what the page must then show:
//
//   {"plugin": "calc", "function": "Add", "payload": "{\"a\": 2, \"b\": 3}", "result": 5}
//   {"plugin": "calc", "function": "Div", "payload": "...", "error": {"code": -32000, "message": "division by zero"}}
//
// "payload" is the text typed into the editor; "result" is compared with
// what the page shows as JSON, whatever the order of object keys. The rest
// is as for console.mjs: one "ok" line per step; on failure, the step and
// why, DIR/failure.png and exit status 1.

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { call, check, openConsole, session, text } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { url: "", plugins: [], calls: [], screenshot: "", artifacts: join(here, "artifacts") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--plugin") {
      const [name, version = ""] = value().split("@");
      opts.plugins.push({ name, version });
    } else if (a === "--call") {
      const v = value();
      try {
        opts.calls.push(JSON.parse(v));
      } catch (err) {
        usage(`--call ${v}: ${err.message}`);
      }
    } else if (a === "--screenshot") opts.screenshot = resolve(value());
    else if (a === "--artifacts") opts.artifacts = resolve(value());
    else if (a.startsWith("--")) usage(`unknown flag ${a}`);
    else if (!opts.url) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url) usage("the admin API's URL is required");
  if (!opts.plugins.length) usage("name at least one --plugin");
  return opts;
}

function usage(msg) {
  console.error(`serve e2e: ${msg}\nusage: node serve.mjs URL --plugin NAME@VERSION ... --call JSON ... [--screenshot FILE] [--artifacts DIR]`);
  process.exit(2);
}

// canonical is v as JSON with object keys sorted, for comparing values.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

const opts = parseArgs(process.argv.slice(2));

await session("serve e2e", opts, async (page, step) => {
  await openConsole(page, step, opts.url);

  const names = opts.plugins.map((p) => p.name);
  await step(`plugins ${names.join(" and ")} are listed`, async () => {
    for (const p of opts.plugins) {
      const item = `[data-testid=plugin-item][data-plugin="${p.name}"]`;
      await page.waitForSelector(item);
      const version = await text(page, `${item} .version`);
      check(version === p.version, `${p.name} shows version "${version}", want "${p.version}"`);
    }
    const listed = await page.locator("[data-testid=plugin-item]").evaluateAll((els) => els.map((e) => e.dataset.plugin));
    check(canonical([...listed].sort()) === canonical([...names].sort()), `the list shows ${JSON.stringify(listed)}`);
    const count = await text(page, "[data-testid=plugin-count]");
    check(count === String(names.length), `the count reads ${count}`);
  });

  for (const c of opts.calls) {
    const what = `${c.plugin}.${c.function}`;
    if ("error" in c) {
      await step(`calling ${what} shows error ${c.error.code}, "${c.error.message}"`, async () => {
        const state = await call(page, c.plugin, c.function, c.payload);
        check(state === "error", `outcome is ${state}: ${await text(page, "[data-testid=outcome]")}`);
        const code = await text(page, "[data-testid=error-code]");
        const msg = await text(page, "[data-testid=error-message]");
        check(code === String(c.error.code) && msg === c.error.message, `error shows code ${code}, message "${msg}"`);
      });
      continue;
    }
    await step(`calling ${what} shows ${canonical(c.result)}`, async () => {
      const state = await call(page, c.plugin, c.function, c.payload);
      check(state === "ok", `outcome is ${state}: ${await text(page, "[data-testid=outcome]")}`);
      const shown = await text(page, "[data-testid=result]");
      let got;
      try {
        got = JSON.parse(shown);
      } catch {
        check(false, `the result shown is not JSON: "${shown}"`);
      }
      check(canonical(got) === canonical(c.result), `result shows ${shown}`);
      const meta = await text(page, "[data-testid=result-meta]");
      check(meta.includes("HTTP 200"), `result meta reads "${meta}"`);
    });
  }
});
