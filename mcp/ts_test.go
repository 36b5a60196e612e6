package mcp_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/internal/testplugins"
	"github.com/plugsock/plugsock/mcp"
	"github.com/plugsock/plugsock/socket"
)

// tsTools returns node, or skips: the TypeScript tests run only when
// PLUGSOCK_MCP_TS is set, and then insist on node and on `npm ci` in
// testdata/ts.
func tsTools(t *testing.T) string {
	t.Helper()
	if os.Getenv("PLUGSOCK_MCP_TS") == "" {
		t.Skip("TypeScript SDK test: set PLUGSOCK_MCP_TS=1 to run it (needs node and `npm ci` in mcp/testdata/ts)")
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "PLUGSOCK_MCP_TS is set, but node is not installed")
	_, err = os.Stat(filepath.Join("testdata", "ts", "node_modules", "@modelcontextprotocol", "sdk"))
	require.NoError(t, err, "the TypeScript SDK is missing: run `npm ci` in mcp/testdata/ts")
	return node
}

// TestTypeScriptSDKClient runs the official TypeScript SDK's client
// (npm @modelcontextprotocol/sdk; testdata/ts/client.mjs) against /mcp
// as plugsock serve mounts it, behind the admin API's guard and token:
// over Streamable HTTP, and over stdio through a built `plugsock mcp`.
// It lists the tools, calls calc.Add, sees isError for calc.Div by zero,
// gets a structuredContent the SDK checks against its outputSchema,
// gets progress from slow.Wait and cancels it, which ends the plugin
// method's context, and hears of a plugin that connects.
func TestTypeScriptSDKClient(t *testing.T) {
	node := tsTools(t)
	bin := filepath.Join(t.TempDir(), "plugsock")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/plugsock/plugsock/cmd/plugsock").CombinedOutput()
	require.NoError(t, err, "building plugsock: %s", out)

	for _, mode := range []string{"streamable HTTP", "stdio through plugsock mcp"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mcp.Config{}, socket.Config{})
			const token = "ts-token"
			a := admin.New(e.s, admin.Config{Logger: quiet, Token: token, MCP: e.m})
			ts := httptest.NewUnstartedServer(a)
			ts.Config = a.HTTPServer()
			ts.Start()
			t.Cleanup(ts.Close)
			e.calc()
			e.dial(Geo{}, "geo", "1.0.0")
			slow := newSlow()
			e.dial(slow, "slow", "0.1.0")

			args := []string{"testdata/ts/client.mjs", "http", ts.URL + "/mcp", token}
			if mode != "streamable HTTP" {
				args = []string{"testdata/ts/client.mjs", "stdio", bin, ts.URL, token}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, args...)
			cmd.Env = append(os.Environ(), "NO_COLOR=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			var lines []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				t.Log(line)
				lines = append(lines, line)
				switch line {
				case "ok slow.Wait cancelled":
					select {
					case err := <-slow.Ended:
						assert.ErrorIs(t, err, context.Canceled, "the plugin method's context ends with the client's cancellation")
					case <-time.After(10 * time.Second):
						t.Error("cancelling the call in the TypeScript client did not end the plugin method's context")
					}
				case "waiting for list_changed":
					e.dial(testplugins.NewCalc(), "later", "1.0.0")
				}
			}
			err = cmd.Wait()
			if s := strings.TrimSpace(stderr.String()); s != "" {
				t.Log(s)
			}
			require.NoError(t, err, "the TypeScript client failed:\n%s", stderr.String())
			assert.Contains(t, lines, "ok closed")
			assert.Contains(t, lines, "ok calc.Div by zero is an error result")
			if mode == "streamable HTTP" {
				assert.Contains(t, lines, "ok connected plugsock protocol 2025-11-25")
			}
		})
	}
}
