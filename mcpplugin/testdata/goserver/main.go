// Command goserver is an MCP server written with the official Go SDK,
// speaking over its standard input and output, for mcpplugin's tests and
// plugsock serve's: the tests launch it as a plugin and call its tools.
//
// Its tools: add (structured output), echo (text), fail (isError), slow
// (progress, and cancellation, which it reports on standard error), pid
// (its process id, so that a test can kill it) and grow (adds the tool
// extra, which makes the SDK send notifications/tools/list_changed).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type addIn struct {
	A int `json:"a" jsonschema:"the first addend"`
	B int `json:"b" jsonschema:"the second addend"`
}

type addOut struct {
	Sum int `json:"sum"`
}

type echoIn struct {
	Text string `json:"text"`
}

type slowIn struct {
	MS int `json:"ms"`
}

type none struct{}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func main() {
	s := mcp.NewServer(&mcp.Implementation{Name: "goserver", Version: "1.2.3"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two integers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
			return nil, addOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Says the text back."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails."},
		func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, any, error) {
			return nil, nil, fmt.Errorf("it failed, as asked")
		})
	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Waits ms milliseconds, reporting progress."},
		func(ctx context.Context, req *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, any, error) {
			token := req.Params.GetProgressToken()
			deadline := time.Now().Add(time.Duration(in.MS) * time.Millisecond)
			for step := 1; ; step++ {
				if token != nil {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token,
						Progress: float64(step), Total: float64(in.MS), Message: "waiting"})
				}
				t := time.NewTimer(min(10*time.Millisecond, time.Until(deadline)))
				select {
				case <-ctx.Done():
					t.Stop()
					log.Printf("slow: cancelled: %v", ctx.Err())
					return nil, nil, ctx.Err()
				case <-t.C:
				}
				if !time.Now().Before(deadline) {
					return text(fmt.Sprintf("waited %d ms", in.MS)), nil, nil
				}
			}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "The server's process id."},
		func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, map[string]int, error) {
			return nil, map[string]int{"pid": os.Getpid()}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "grow", Description: "Adds the tool extra."},
		func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, any, error) {
			mcp.AddTool(s, &mcp.Tool{Name: "extra", Description: "Added by grow."},
				func(context.Context, *mcp.CallToolRequest, none) (*mcp.CallToolResult, any, error) {
					return text("extra"), nil, nil
				})
			return text("grown"), nil, nil
		})
	log.SetFlags(0)
	log.Printf("goserver %d: serving on stdio", os.Getpid())
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Printf("goserver: %v", err)
	}
	log.Printf("goserver %d: stdin closed; exiting", os.Getpid())
}
