package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Direct gets read a stream's messages without a consumer: one request
// to $JS.API.DIRECT.GET.<stream>, answered by any server that holds the
// stream (AllowDirect), with a batch of messages and an end-of-batch
// status that says how many more there are (nats-server 2.11 or later).
// A consumer would cost a round trip to make and one to delete for every
// Read; this costs one.

// directRequest is JetStream's JSApiMsgGetRequest, the fields used here.
type directRequest struct {
	Seq      uint64 `json:"seq,omitempty"`
	LastFor  string `json:"last_by_subj,omitempty"`
	NextFor  string `json:"next_by_subj,omitempty"`
	Batch    int    `json:"batch,omitempty"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// directMsg is one message of a direct get's answer. Data and Header
// belong to the message, which nothing else holds.
type directMsg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
}

// Bounds of one batch: a subscription's pending limits (nats.go's
// defaults: 512k messages, 64 MiB) must hold everything a batch brings,
// or the client drops messages and the batch never ends.
const (
	maxBatch      = 1024
	maxBatchBytes = 8 << 20
)

// errNoStream is what a direct get to a stream that does not exist (or
// does not allow direct gets) comes back with: no responders.
var errNoStream = errors.New("no stream answers direct gets")

// directBatch asks stream for the messages of req and calls each for
// every one, in sequence order, until the end of the batch. It returns
// how many messages the stream still has past the batch (the end-of-batch
// status's Nats-Num-Pending), 0 when none matched. A stream that does not
// exist is errNoStream.
func (s *store) directBatch(ctx context.Context, stream string, req directRequest, each func(m *directMsg) error) (pending uint64, err error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	// The answer is at most Batch messages and the end of batch (or one
	// status): a channel that holds them all never drops one, and costs
	// far less than SubscribeSync's, which holds 64k.
	inbox := s.nc.NewInbox()
	ch := make(chan *nats.Msg, max(req.Batch, 1)+1)
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0, err
	}
	// An error here is a closed connection, which has no subscription left
	// to end.
	defer func() { _ = sub.Unsubscribe() }()
	if err := s.nc.PublishRequest(s.apiPrefix+"DIRECT.GET."+stream, inbox, body); err != nil {
		return 0, err
	}
	got := 0
	for {
		var msg *nats.Msg
		select {
		case msg = <-ch:
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
		status := msg.Header.Get("Status")
		switch status {
		case "":
		case "204": // end of batch
			if req.Batch == 0 {
				return 0, fmt.Errorf("direct get from stream %s: end of batch for a single get", stream)
			}
			return parseUint(msg.Header.Get("Nats-Num-Pending")), nil
		case "404": // nothing at or after the sequence
			return 0, nil
		case "503":
			return 0, errNoStream
		default:
			return 0, fmt.Errorf("direct get from stream %s: status %s %s", stream, status, msg.Header.Get("Description"))
		}
		seq := parseUint(msg.Header.Get("Nats-Sequence"))
		if seq == 0 {
			return 0, fmt.Errorf("%w: direct get from stream %s: a message without a sequence", ErrCorrupt, stream)
		}
		got++
		if req.Batch > 0 && got > req.Batch {
			return 0, fmt.Errorf("direct get from stream %s: more messages than the %d asked for", stream, req.Batch)
		}
		if err := each(&directMsg{Seq: seq, Subject: msg.Header.Get("Nats-Subject"), Header: msg.Header, Data: msg.Data}); err != nil {
			return 0, err
		}
		if req.Batch == 0 {
			// A single get has no end-of-batch status: its one message
			// is the answer.
			return 0, nil
		}
	}
}

// directLast returns the last message of subject in stream, nil when it
// has none.
func (s *store) directLast(ctx context.Context, stream, subject string) (*directMsg, error) {
	var last *directMsg
	_, err := s.directBatch(ctx, stream, directRequest{LastFor: subject}, func(m *directMsg) error {
		last = m
		return nil
	})
	if errors.Is(err, errNoStream) {
		return nil, nil
	}
	return last, err
}

func parseUint(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
