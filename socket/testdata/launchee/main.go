// Command launchee is the plugin executable the socket package's Launch
// tests start. LAUNCHEE_MODE picks a behaviour:
//
//	(empty)       serve until stopped; SIGTERM leaves in good order
//	exit          exit with status 3 before connecting
//	silent        never connect; just wait to be killed
//	linger        after the host's $/shutdown, ignore SIGTERM and stay
//	child         start a child process (sleep) in the plugin's group
//	configured    take a configuration (Configure), which Config answers
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/plugin"
)

type launchee struct {
	child int
	hook  chan any
}

type args struct {
	A int `json:"a"`
	B int `json:"b"`
}

func (l *launchee) UseAsyncHook(h chan any) { l.hook = h }

func (l *launchee) Add(_ context.Context, in args) (int, error) { return in.A + in.B, nil }

// Pid returns the process id.
func (l *launchee) Pid(context.Context, struct{}) (int, error) { return os.Getpid(), nil }

// ChildPid returns the child's process id in child mode.
func (l *launchee) ChildPid(context.Context, struct{}) (int, error) { return l.child, nil }

// Launch returns the launch id the process was given.
func (l *launchee) Launch(context.Context, struct{}) (string, error) {
	return os.Getenv(envelope.EnvLaunch), nil
}

// Say writes a line to standard error.
func (l *launchee) Say(_ context.Context, s string) (struct{}, error) {
	fmt.Fprintln(os.Stderr, s)
	return struct{}{}, nil
}

// Warn logs msg at WARN through log/slog's JSON handler on standard
// error, as a Go plugin that logs with slog does.
func (l *launchee) Warn(_ context.Context, msg string) (struct{}, error) {
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Warn(msg, "free_mb", 12, "volume", "/data")
	return struct{}{}, nil
}

// configured is the launchee with a configuration.
type configured struct {
	*launchee
	mu  sync.Mutex
	cfg launcheeConfig
}

type launcheeConfig struct {
	Greeting string `json:"greeting" plugsock:"required"`
}

func (c *configured) Configure(_ context.Context, cfg launcheeConfig) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg = cfg
	return nil
}

// Config returns the configuration the process took.
func (c *configured) Config(context.Context, struct{}) (launcheeConfig, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg, nil
}

func main() {
	mode := os.Getenv("LAUNCHEE_MODE")
	if os.Getenv(envelope.EnvAddr) != "" {
		fmt.Printf("launchee up pid=%d\n", os.Getpid())
	}
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if mode == "linger" {
		signal.Ignore(syscall.SIGTERM)
		sigs = sigs[:1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	l := &launchee{}
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "launchee: exiting at once as told")
		os.Exit(3)
	case "silent":
		<-ctx.Done()
		return
	case "child":
		c := exec.Command("sleep", "600")
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		l.child = c.Process.Pid
	}
	name := os.Getenv("LAUNCHEE_NAME")
	if name == "" {
		name = "launchee"
	}
	var v any = l
	if mode == "configured" {
		v = &configured{launchee: l}
	}
	err := plugin.Run(ctx, v, &envelope.PluginInfo{Name: name, Version: os.Getenv("LAUNCHEE_VERSION")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "launchee:", err)
		os.Exit(1)
	}
	fmt.Print("launchee done") // no newline: the host logs it anyway
	for mode == "linger" {
		time.Sleep(time.Hour) // until killed
	}
}
