package plugin

import (
	"context"
	"runtime"
	"sync"

	"github.com/plugsock/plugsock/envelope"
)

// Each call runs on a goroutine of its own, but that goroutine is kept for
// a later call instead of ending: a fresh goroutine starts with a small
// stack that grows, by copying, two or three times while it decodes the
// params, calls the method and encodes the result, and on a small call
// that costs more than all the decoding. When a call comes, the worker
// that went idle last takes it (its stack and caches are the warmest);
// when none is idle, dispatch starts another, so calls never wait for one
// another. At most maxIdleWorkers stay idle; the rest end as they finish,
// and the idle ones end with the session.

// maxIdleWorkers bounds the goroutines a session keeps waiting for calls.
var maxIdleWorkers = max(64, 4*runtime.GOMAXPROCS(0))

type job struct {
	ctx    context.Context
	cancel context.CancelFunc
	m      *envelope.Envelope // nil tells an idle worker to end
}

// worker is an idle worker's mailbox.
type worker struct{ jobs chan job }

// workerPool is a session's workers.
type workerPool struct {
	mu     sync.Mutex
	idle   []*worker // the last one went idle last
	closed bool
	wg     sync.WaitGroup
}

// dispatch runs s.serve(j) on an idle worker, or on a new one.
func (s *session) dispatch(j job) {
	p := &s.pool
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.jobs <- j
		return
	}
	p.mu.Unlock()
	p.wg.Add(1)
	go s.work(j)
}

func (s *session) work(j job) {
	p := &s.pool
	defer p.wg.Done()
	w := &worker{jobs: make(chan job, 1)}
	for {
		s.serve(j)
		j = job{}
		p.mu.Lock()
		if p.closed || len(p.idle) >= maxIdleWorkers {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		if j = <-w.jobs; j.m == nil {
			return
		}
	}
}

// stopWorkers ends the idle workers and waits for every worker to end.
// Calls still dispatched afterwards get a worker of their own that ends
// when they do.
func (s *session) stopWorkers() {
	p := &s.pool
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, w := range idle {
		w.jobs <- job{}
	}
	p.wg.Wait()
}

// callContext returns a new call's context. It derives from Background
// rather than from the session's context: deriving from a cancellable
// parent registers every call with that parent, under the parent's lock,
// and unregisters it when the call ends, which all concurrent calls of a
// session contend for. The session's end reaches the calls through
// cancelWithCalls instead, at the same moment the parent's cancellation
// would have.
func (s *session) callContext() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// cancelWithCalls returns a function that runs cancel, which ends the
// session's context, and then cancels every call in flight.
func (s *session) cancelWithCalls(cancel context.CancelFunc) context.CancelFunc {
	return func() {
		cancel()
		s.mu.Lock()
		calls := make([]context.CancelFunc, 0, len(s.calls))
		for _, c := range s.calls {
			calls = append(calls, c.cancel)
		}
		s.mu.Unlock()
		for _, c := range calls {
			c()
		}
	}
}
