// Command recorder is the consumer of the crash loop (package crashloop):
// a plugin that subscribes to a topic and, for every event delivered,
// appends a line to a file and syncs it before it acknowledges the event,
// so that what the file holds is exactly what it was delivered, even
// when the host is killed. Each line is "OFFSET N TIME": the event's
// offset, the "n" of its data, and the wall-clock time in nanoseconds.
//
// RECORDER_FILE names the file (required), RECORDER_TOPIC the topic
// ("crash" when unset) and RECORDER_SUBSCRIPTION the subscription
// ("crashloop"). It dials PLUGSOCK_ADDR as every plugin.Run program does,
// and connects again whenever the host goes away, killed or stopped, until
// it is interrupted.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/eventlog"
	"github.com/plugsock/plugsock/plugin"
)

type recorder struct {
	topic, sub string
	mu         sync.Mutex
	f          *os.File
}

func (r *recorder) Subscriptions() []plugin.Subscription {
	return []plugin.Subscription{{Name: r.sub, Function: "Record", Filter: eventlog.Filter{Topic: r.topic}}}
}

// Record writes each event down, synced, then acknowledges it.
func (r *recorder) Record(ctx context.Context, in *plugin.Sink[eventlog.Event]) error {
	for {
		it, err := in.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var data struct {
			N int64 `json:"n"`
		}
		_ = json.Unmarshal(it.Value.Data, &data)
		if err := r.write(fmt.Sprintf("%d %d %d\n", it.Value.Offset, data.N, time.Now().UnixNano())); err != nil {
			return err // not acknowledged: delivered again
		}
		if err := in.Ack(it.Seq); err != nil {
			return err
		}
	}
}

func (r *recorder) write(line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.WriteString(line); err != nil {
		return err
	}
	return r.f.Sync()
}

// Pid returns the process id.
func (r *recorder) Pid(context.Context, struct{}) (int, error) { return os.Getpid(), nil }

func main() {
	path := os.Getenv("RECORDER_FILE")
	if path == "" {
		log.Fatal("recorder: RECORDER_FILE is not set")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatalf("recorder: %v", err)
	}
	defer f.Close()
	r := &recorder{topic: os.Getenv("RECORDER_TOPIC"), sub: os.Getenv("RECORDER_SUBSCRIPTION"), f: f}
	if r.topic == "" {
		r.topic = "crash"
	}
	if r.sub == "" {
		r.sub = "crashloop"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for ctx.Err() == nil {
		// A host that stops in good order unplugs the recorder, and Run
		// returns: connect again, to the host's next run.
		if err := plugin.Run(ctx, r, &envelope.PluginInfo{Name: "recorder", Version: "1.0.0"}); err != nil {
			log.Fatalf("recorder: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
