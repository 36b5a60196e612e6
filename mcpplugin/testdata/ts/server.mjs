// An MCP server written with the official TypeScript SDK, speaking over
// its standard input and output, with the tools of the Go test server
// (testdata/goserver): add, echo, fail, slow, pid and grow. mcpplugin's
// and cmd/plugsock's tests launch it as a plugin when PLUGSOCK_MCP_TS=1.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "tsserver", version: "3.2.1" });
const text = (t) => ({ content: [{ type: "text", text: t }] });

server.registerTool("add", {
  description: "Adds two integers.",
  inputSchema: { a: z.number().int(), b: z.number().int() },
  outputSchema: { sum: z.number().int() },
}, async ({ a, b }) => {
  const out = { sum: a + b };
  return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
});

server.registerTool("echo", {
  description: "Says the text back.",
  inputSchema: { text: z.string() },
}, async ({ text: t }) => text(t));

server.registerTool("fail", { description: "Always fails." },
  async () => ({ ...text("it failed, as asked"), isError: true }));

server.registerTool("pid", {
  description: "The server's process id.",
  outputSchema: { pid: z.number().int() },
}, async () => ({ ...text(String(process.pid)), structuredContent: { pid: process.pid } }));

server.registerTool("slow", {
  description: "Waits ms milliseconds, reporting progress.",
  inputSchema: { ms: z.number().int() },
}, async ({ ms }, extra) => {
  const token = extra._meta?.progressToken;
  const deadline = Date.now() + ms;
  for (let step = 1; Date.now() < deadline; step++) {
    if (token !== undefined) {
      await extra.sendNotification({
        method: "notifications/progress",
        params: { progressToken: token, progress: step, total: ms, message: "waiting" },
      });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(10, Math.max(0, deadline - Date.now()))));
    if (extra.signal.aborted) {
      console.error(`slow: cancelled: ${extra.signal.reason ?? "aborted"}`);
      throw new Error("cancelled");
    }
  }
  return text(`waited ${ms} ms`);
});

server.registerTool("grow", { description: "Adds the tool extra." }, async () => {
  server.registerTool("extra", { description: "Added by grow." }, async () => text("extra"));
  return text("grown");
});

const transport = new StdioServerTransport();
transport.onclose = () => {
  console.error(`tsserver ${process.pid}: stdin closed; exiting`);
  process.exit(0);
};
process.stdin.on("end", () => transport.close());
await server.connect(transport);
console.error(`tsserver ${process.pid}: serving on stdio`);
