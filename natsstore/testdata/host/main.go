// Command host is the plugsock host of natsstore's crash loop
// (crashloop_test.go): a socket whose Store is natsstore's, on the NATS
// server at -nats, accepting plugins at -listen, with the admin API at
// -admin behind -admin-token, wired as plugsock serve wires them, until
// SIGTERM or SIGINT, when it shuts down in good order and exits 0. The
// test kills it with SIGKILL and starts it again: everything durable is
// in the NATS server, which outlives it.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/plugsock/plugsock/admin"
	"github.com/plugsock/plugsock/natsstore"
	"github.com/plugsock/plugsock/socket"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		os.Exit(1)
	}
}

func run() error {
	natsURL := flag.String("nats", os.Getenv("NATS_URL"), "`url` of the NATS server; default $NATS_URL")
	listenAddr := flag.String("listen", "127.0.0.1:0", "`address` plugins dial")
	adminAddr := flag.String("admin", "127.0.0.1:0", "`address` of the admin API")
	token := flag.String("admin-token", "", "`secret` every admin API request must present")
	flag.Parse()
	if *natsURL == "" || *token == "" {
		return errors.New("-nats (or $NATS_URL) and -admin-token are required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).
		With("pid", os.Getpid())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, err := natsstore.Dial(*natsURL)
	if err != nil {
		return err
	}
	defer store.Close() // on the early returns; Close is idempotent
	l, err := net.Listen("tcp", *listenAddr)
	if err != nil {
		return err
	}
	al, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		_ = l.Close()
		return fmt.Errorf("admin API: %w", err)
	}

	var s socket.Socket
	s.Serve(l, socket.Config{EventPoll: 100 * time.Millisecond, Logger: log, Store: store})
	adm := admin.New(&s, admin.Config{Logger: log, Token: *token, Hosts: []string{*adminAddr}})
	httpSrv := adm.HTTPServer()
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpSrv.Serve(admin.LimitListener(al, admin.DefaultMaxConns)) }()
	// The socket's single Async reader: it ends once the socket is shut
	// down and drained.
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- adm.Forward(context.Background()) }()
	log.Info("host: serving", "listen", l.Addr().String(), "admin", al.Addr().String(), "nats", *natsURL)

	var failed error
	select {
	case <-ctx.Done():
		log.Info("host: shutting down")
	case err := <-httpDone:
		failed = fmt.Errorf("admin API: %w", err)
	}
	stop()

	// As plugsock serve: plugins first, so that their calls finish and
	// their subscriptions commit what they acknowledged; then the event
	// streams; then the HTTP server.
	if err := s.Shutdown(""); err != nil {
		failed = cmp.Or(failed, fmt.Errorf("shutdown: %w", err))
	}
	if err := <-fwdDone; err != nil {
		failed = cmp.Or(failed, fmt.Errorf("async: %w", err))
	}
	adm.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil && failed == nil {
		failed = fmt.Errorf("admin API shutdown: %w", err)
	}
	if err := <-httpDone; !errors.Is(err, http.ErrServerClosed) && failed == nil {
		failed = fmt.Errorf("admin API: %w", err)
	}
	if err := store.Close(); err != nil && failed == nil {
		failed = fmt.Errorf("closing the store: %w", err)
	}
	log.Info("host: stopped")
	return failed
}
