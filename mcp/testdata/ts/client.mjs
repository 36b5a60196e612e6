// The official TypeScript MCP SDK's client against plugsock: run by
// TestTypeScriptSDKClient (mcp/ts_test.go), which serves the plugins.
//
//   node client.mjs http  URL TOKEN                  Streamable HTTP to URL (/mcp)
//   node client.mjs stdio PLUGSOCK ADMIN_URL TOKEN   stdio, through `PLUGSOCK mcp --admin ADMIN_URL`
//
// It prints one line per step ("ok ...") and, when it is ready for a
// plugin to connect, "waiting for list_changed"; the test then connects
// one. Any failure prints "FAIL ..." on stderr and exits 1.
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const [mode, ...rest] = process.argv.slice(2);

function transport() {
  if (mode === 'http') {
    const [url, token] = rest;
    return new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
  }
  if (mode === 'stdio') {
    const [plugsock, adminURL, token] = rest;
    return new StdioClientTransport({
      command: plugsock,
      args: ['mcp', '--admin', adminURL],
      env: { ...process.env, PLUGSOCK_ADMIN_TOKEN: token },
      stderr: 'inherit',
    });
  }
  throw new Error(`unknown mode ${mode}`);
}

function text(result) {
  assert.equal(result.content.length, 1);
  assert.equal(result.content[0].type, 'text');
  return result.content[0].text;
}

async function main() {
  const client = new Client({ name: 'ts-test', version: '1.0.0' });
  let changed = () => {};
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed());
  const t = transport();
  await client.connect(t);
  console.log(`ok connected ${client.getServerVersion().name}${t.protocolVersion ? ' protocol ' + t.protocolVersion : ''}`);

  const { tools } = await client.listTools();
  const names = tools.map((tool) => tool.name).sort();
  for (const want of ['calc.Add', 'calc.Div', 'calc.Echo', 'geo.Mirror', 'slow.Wait']) {
    assert.ok(names.includes(want), `${want} is not among ${names}`);
  }
  const add = tools.find((tool) => tool.name === 'calc.Add');
  assert.equal(add.inputSchema.type, 'object');
  assert.deepEqual(Object.keys(add.inputSchema.properties).sort(), ['a', 'b']);
  assert.equal(add.outputSchema, undefined);
  const mirror = tools.find((tool) => tool.name === 'geo.Mirror');
  assert.equal(mirror.outputSchema.type, 'object');
  console.log(`ok tools ${names.join(' ')}`);

  let result = await client.callTool({ name: 'calc.Add', arguments: { a: 2, b: 3 } });
  assert.equal(result.isError ?? false, false);
  assert.equal(text(result), '5');
  console.log('ok calc.Add 2+3 = 5');

  result = await client.callTool({ name: 'calc.Div', arguments: { a: 1, b: 0 } });
  assert.equal(result.isError, true);
  assert.equal(text(result), 'division by zero');
  console.log('ok calc.Div by zero is an error result');

  result = await client.callTool({ name: 'calc.Echo', arguments: { value: 'hello' } });
  assert.equal(text(result), '"hello"');
  console.log('ok calc.Echo takes {"value": ...}');

  // The SDK checks structuredContent against the outputSchema.
  result = await client.callTool({ name: 'geo.Mirror', arguments: { x: 1, y: 2 } });
  assert.deepEqual(result.structuredContent, { x: 2, y: 1 });
  console.log('ok geo.Mirror structuredContent {"x":2,"y":1}');

  await assert.rejects(
    client.callTool({ name: 'nope.Add', arguments: {} }),
    (err) => err.code === -32602 && /unknown tool/.test(err.message),
  );
  console.log('ok an unknown tool is a JSON-RPC error -32602');

  // Progress, then cancellation.
  const abort = new AbortController();
  const reports = [];
  let third;
  const gotThird = new Promise((resolve) => { third = resolve; });
  const slow = client.callTool({ name: 'slow.Wait', arguments: { value: 3 } }, undefined, {
    signal: abort.signal,
    onprogress: (p) => {
      reports.push(p);
      if (p.progress === 3) third();
    },
  });
  const slowDone = slow.then(() => 'answered', (err) => err);
  await gotThird;
  const last = reports[reports.length - 1];
  assert.equal(last.total, 3);
  assert.equal(last.message, 'step');
  console.log(`ok progress ${last.progress}/${last.total} ${last.message}`);
  abort.abort();
  const outcome = await slowDone;
  assert.ok(outcome instanceof Error, `slow.Wait was ${outcome}, not cancelled`);
  console.log('ok slow.Wait cancelled');

  const listChanged = new Promise((resolve) => { changed = resolve; });
  console.log('waiting for list_changed');
  await listChanged;
  const after = (await client.listTools()).tools.map((tool) => tool.name);
  assert.ok(after.includes('later.Add'), `later.Add is not among ${after}`);
  console.log('ok list_changed, later.Add is a tool');

  await client.close();
  console.log('ok closed');
}

main().catch((err) => {
  console.error(`FAIL ${err?.stack ?? err}`);
  process.exit(1);
});
