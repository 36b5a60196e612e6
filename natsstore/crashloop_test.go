package natsstore

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plugsock/plugsock/internal/crashloop"

	// The host program (testdata/host) and the crash loop's recorder are
	// built from this module by the test, and go mod tidy does not look
	// in testdata: importing what they import keeps their dependencies'
	// sums in go.sum.
	_ "github.com/plugsock/plugsock/admin"
	_ "github.com/plugsock/plugsock/plugin"
)

// TestCrashLoopOnNATS is issue 16's crash loop on this store: a host
// process (testdata/host) whose Store is natsstore's, on a nats-server
// embedded in the test process with file storage, is killed with SIGKILL
// twenty times at random moments while events are published through its
// admin API and a recorder plugin process consumes them. The NATS server
// stays up throughout, holding the events, offsets and commits; the host
// keeps nothing of its own. Nothing acknowledged is lost, and an event is
// delivered twice only across a kill. A host starts in milliseconds here,
// so the loop kills four times as often as the bolt one (cmd/plugsock)
// and still takes a few seconds.
func TestCrashLoopOnNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills processes for a while")
	}
	ts := runServer(t, t.TempDir(), serverConfig{maxPayload: bigPayload})
	host := buildHost(t)
	res := crashloop.Run(t, crashloop.Config{
		Recorder: crashloop.BuildRecorder(t),
		Kills:    20,
		Events:   2000,
		Host: func(_, listen, admin, token string) *exec.Cmd {
			// dir goes unused: the host's events are in the NATS server.
			return exec.Command(host, "-nats", ts.ClientURL(), "-listen", listen, "-admin", admin, "-admin-token", token)
		},
	})
	assert.GreaterOrEqual(t, res.Published, 2000)
	assert.GreaterOrEqual(t, res.Offsets, res.Published)
}

// buildHost builds testdata/host into a temporary directory of t's and
// returns its path.
func buildHost(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "host")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/host").CombinedOutput(); err != nil {
		t.Fatalf("building the host: %v\n%s", err, out)
	}
	return bin
}
