package admin

import (
	"net/http"

	"github.com/plugsock/plugsock/socket"
)

// Stats is the answer of GET /api/stats: the socket's call counts by
// plugin and method (socket.Socket.CallStats), and the health of every
// connected plugin (as GET /api/health/plugins has it), so that a monitor
// polling once a second makes one request. The counts are cumulative: a
// client takes rates, and latency percentiles over an interval, by
// differencing two answers (At says when each was taken), as the console
// and 'plugsock top' do.
type Stats struct {
	socket.CallStats
	Health []socket.Health `json:"health"`
}

func (a *Server) stats(w http.ResponseWriter, r *http.Request) {
	st := Stats{CallStats: a.s.CallStats(), Health: a.s.Healths()}
	if st.Health == nil {
		st.Health = []socket.Health{}
	}
	writeJSON(w, http.StatusOK, st)
}
