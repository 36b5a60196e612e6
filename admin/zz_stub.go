// Package admin serves an HTTP admin API for a socket.Socket.
//
// This file is a placeholder with the agreed signatures only, so that code
// using the package builds; the real package replaces it.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

var errStub = errors.New("admin: not implemented (placeholder package)")

// Server serves the admin API. Create with New.
type Server struct{}

// New returns a Server for s.
func New(s *socket.Socket, opts ...Option) *Server { return &Server{} }

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the Server's logger.
func WithLogger(l *slog.Logger) Option { return func(*Server) {} }

// ServeHTTP answers every request with 501.
func (a *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, errStub.Error(), http.StatusNotImplemented)
}

// Publish fans one item out to every event subscriber.
func (a *Server) Publish(item *envelope.AsyncData) {}

// Close ends every open event stream.
func (a *Server) Close() {}

// Client talks to an admin Server over HTTP.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// List returns the connected plugins, without functions.
func (c *Client) List(ctx context.Context) (map[string]*envelope.PluginInfo, error) {
	return nil, errStub
}

// Describe returns one plugin's info with its functions.
func (c *Client) Describe(ctx context.Context, name string) (*envelope.PluginInfo, error) {
	return nil, errStub
}

// OpenRPC returns a plugin's OpenRPC document.
func (c *Client) OpenRPC(ctx context.Context, name string) (json.RawMessage, error) {
	return nil, errStub
}

// Call calls method on the plugin called name.
func (c *Client) Call(ctx context.Context, name, method string, payload json.RawMessage) (json.RawMessage, error) {
	return nil, errStub
}

// Broadcast calls method on every plugin.
func (c *Client) Broadcast(ctx context.Context, method string, payload json.RawMessage) (map[string]BroadcastResult, error) {
	return nil, errStub
}

// Unplug unplugs the plugin called name.
func (c *Client) Unplug(ctx context.Context, name string) error { return errStub }

// APIError is an error answer from the admin API.
type APIError struct {
	Status  int
	Code    int64
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (code %d, HTTP %d)", e.Message, e.Code, e.Status)
}

// BroadcastResult is one plugin's answer to a broadcast.
type BroadcastResult struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ErrorBody      `json:"error,omitempty"`
}

// ErrorBody is the error member of an API answer.
type ErrorBody struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
}
