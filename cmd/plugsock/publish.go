package main

// The commands of a host's events: publish, topics, subscriptions.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/socket"
)

// eventsAPI is what the commands of events and state need of
// admin.Client.
type eventsAPI interface {
	Publish(ctx context.Context, topic string, event json.RawMessage) (uint64, error)
	Topics(ctx context.Context) ([]socket.TopicInfo, error)
	Subscriptions(ctx context.Context) ([]socket.SubscriptionInfo, error)
	State(ctx context.Context, name string) (*admin.State, error)
}

var _ eventsAPI = (*admin.Client)(nil)

// eventsOf returns the events API of api, which the admin client has.
func eventsOf(c command, api adminAPI, stderr io.Writer) (eventsAPI, int, bool) {
	ev, ok := api.(eventsAPI)
	if !ok {
		return nil, c.fail(stderr, "this admin client has no events API"), false
	}
	return ev, exitOK, true
}

func init() {
	register(clientCommand("publish", "[flags] TOPIC [JSON|-]",
		"Publish an event to a topic of a running host.\n"+
			"The event is the JSON argument, or stdin as for call: an object with any of\n"+
			"\"type\", \"action\", \"key\", \"attrs\" (strings) and \"data\" (any JSON). The host\n"+
			"stores it, durably with serve --data, and delivers it to the subscriptions\n"+
			"whose filter takes it; the offset it was given is printed.", 1, 2, false, runPublish))
	register(clientCommand("topics", "[flags]",
		"List the topics of a running host's events, with the offsets each keeps.", 0, 0, false, runTopics))
	register(clientCommand("subscriptions", "[flags]",
		"List the subscriptions of a running host: for each topic they take, the offset\n"+
			"committed, the offset acknowledged, the topic's last and the lag behind it, and\n"+
			"the plugins delivered to. A subscription marked held commits only as its\n"+
			"plugin's state is snapshotted.", 0, 0, false, runSubscriptions))
}

func runPublish(ctx context.Context, c command, api adminAPI, f *clientFlags, args []string, stdout, stderr io.Writer) int {
	ev, code, ok := eventsOf(c, api, stderr)
	if !ok {
		return code
	}
	event, err := readPayload(args[1:])
	if err != nil {
		return c.usageError(stderr, "%v", err)
	}
	if string(event) == "null" {
		event = json.RawMessage("{}")
	}
	off, err := ev.Publish(ctx, args[0], event)
	if err != nil {
		return reportError(c, f, err, stderr)
	}
	if f.json {
		return writeJSON(stdout, admin.Published{Topic: args[0], Offset: off})
	}
	fmt.Fprintf(stdout, "Published to %s at offset %d.\n", text(args[0]), off)
	return exitOK
}

func runTopics(ctx context.Context, c command, api adminAPI, f *clientFlags, _ []string, stdout, stderr io.Writer) int {
	ev, code, ok := eventsOf(c, api, stderr)
	if !ok {
		return code
	}
	topics, err := ev.Topics(ctx)
	if err != nil {
		return reportError(c, f, err, stderr)
	}
	if f.json {
		return writeJSON(stdout, admin.Topics{Topics: topics})
	}
	if len(topics) == 0 {
		fmt.Fprintln(stdout, "No topics.")
		return exitOK
	}
	t := &table{}
	t.row("TOPIC", "FIRST", "LAST")
	for _, tp := range topics {
		t.row(tp.Topic, fmt.Sprint(tp.First), fmt.Sprint(tp.Last))
	}
	t.write(stdout)
	return exitOK
}

func runSubscriptions(ctx context.Context, c command, api adminAPI, f *clientFlags, _ []string, stdout, stderr io.Writer) int {
	ev, code, ok := eventsOf(c, api, stderr)
	if !ok {
		return code
	}
	subs, err := ev.Subscriptions(ctx)
	if err != nil {
		return reportError(c, f, err, stderr)
	}
	if f.json {
		return writeJSON(stdout, admin.Subscriptions{Subscriptions: subs})
	}
	if len(subs) == 0 {
		fmt.Fprintln(stdout, "No subscriptions.")
		return exitOK
	}
	t := &table{}
	t.row("NAME", "TOPIC", "COMMITTED", "ACKED", "LAST", "LAG", "INSTANCES")
	for _, s := range subs {
		name := s.Name
		if s.Held {
			name += " (held)"
		}
		instances := orDash(strings.Join(s.Instances, ","))
		if len(s.Topics) == 0 {
			t.row(name, "-", "-", "-", "-", "-", instances)
		}
		for _, tp := range s.Topics {
			t.row(name, tp.Topic, fmt.Sprint(tp.Committed), fmt.Sprint(tp.Acked), fmt.Sprint(tp.Last), fmt.Sprint(tp.Lag), instances)
		}
	}
	t.write(stdout)
	return exitOK
}
