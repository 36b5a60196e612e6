package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/socket"
)

// TestClassifyErrors covers the errors of the socket itself, which no
// plugin answered (issue 9 B22); those a plugin answered are covered
// through a real plugin in TestStatusByKind.
func TestClassifyErrors(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("plugsock: call p.M: %w", err) }
	for _, tc := range []struct {
		err    error
		status int
		code   int64
	}{
		{wrap(socket.ErrReservedMethod), http.StatusBadRequest, 0},
		{wrap(context.DeadlineExceeded), http.StatusGatewayTimeout, 0},
		{wrap(socket.ErrNoPlugin), http.StatusNotFound, 0},
		{wrap(envelope.ErrShutdown), http.StatusServiceUnavailable, envelope.CodeShuttingDown},
		{wrap(envelope.ErrOverloaded), http.StatusServiceUnavailable, envelope.CodeOverloaded},
		{wrap(envelope.ErrMethodNotFound), http.StatusNotFound, envelope.CodeMethodNotFound},
		{wrap(envelope.ErrInvalidParams), http.StatusBadRequest, envelope.CodeInvalidParams},
		{wrap(&envelope.Error{Code: 7, Message: "mine"}), http.StatusUnprocessableEntity, 7},
		{errors.New("something else"), http.StatusInternalServerError, 0},
	} {
		status, body := classify(tc.err, "p", "M", time.Second)
		assert.Equal(t, tc.status, status, "%v", tc.err)
		assert.Equal(t, tc.code, body.Code, "%v", tc.err)
		assert.NotEmpty(t, body.Message)
	}
	_, body := classify(wrap(context.DeadlineExceeded), "p", "M", 0)
	assert.Equal(t, "call p.M timed out: plugsock: call p.M: context deadline exceeded", body.Message, "the socket's own default timeout")
}
