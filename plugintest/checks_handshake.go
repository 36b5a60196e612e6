package plugintest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/plugsock/plugsock/envelope"
	"github.com/plugsock/plugsock/typedesc"
)

// handshake answers the plugin's first message and runs the handshake
// and functions checks on it. It reports whether there is a plugin to
// run the other checks on.
func (c *checker) handshake() bool {
	const name = "handshake"
	var m *message
	t := time.NewTimer(checkHandshakeTimeout)
	defer t.Stop()
	select {
	case m = <-c.wire.hs:
	case <-c.wire.closed:
		select {
		case m = <-c.wire.hs:
		default:
			c.add(name, Fail, "the connection ended before a handshake: %v", c.wire.err)
			return false
		}
	case <-t.C:
		c.add(name, Fail, "no message within %v of connecting", checkHandshakeTimeout)
		return false
	}
	if !m.isRequest() || m.Method != envelope.MethodHandshake {
		what := "a response"
		switch {
		case m.isRequest():
			what = fmt.Sprintf("a %q request", m.Method)
		case m.isNotification():
			what = fmt.Sprintf("a %q notification", m.Method)
		}
		if m.isRequest() {
			_ = c.wire.replyError(m.ID, envelope.CodeInvalidRequest, "protocol violation: "+m.Method+" before the handshake")
		}
		c.add(name, Fail, "the first message was %s, not a $/handshake request", what)
		return false
	}
	var hs struct {
		Name      *string         `json:"name"`
		Version   json.RawMessage `json:"version"`
		Functions json.RawMessage `json:"functions"`
		Launch    *string         `json:"launch"`
	}
	var problem string
	if err := json.Unmarshal(m.Params, &hs); err != nil {
		problem = fmt.Sprintf("params are not an object of the handshake's shape: %v", err)
	} else if hs.Name == nil {
		problem = "params have no name"
	} else if p := nameProblem(*hs.Name); p != "" {
		problem = p
	}
	var version string
	if problem == "" && len(hs.Version) > 0 && string(hs.Version) != "null" {
		if err := json.Unmarshal(hs.Version, &version); err != nil {
			problem = fmt.Sprintf("version is not a string: %s", clip(hs.Version))
		}
	}
	if problem != "" {
		_ = c.wire.replyError(m.ID, envelope.CodeInvalidParams, "malformed handshake: "+problem)
		c.add(name, Fail, "%s", problem)
		return false
	}
	if err := c.wire.reply(m.ID, envelope.HandshakeResult{Name: *hs.Name, Session: uuid.NewString()}); err != nil {
		c.add(name, Fail, "could not answer the handshake: %v", err)
		return false
	}
	fns, problems := parseFunctions(hs.Functions)
	c.fns = fns
	info := &envelope.PluginInfo{Name: *hs.Name, Version: version, Functions: make(map[string]typedesc.Function, len(fns))}
	for n, f := range fns {
		info.Functions[n] = typedesc.Function{Name: n, Input: f.Input, Output: f.Output}
		if !c.cfg.skip[n] {
			c.names = append(c.names, n)
		}
	}
	slices.Sort(c.names)
	c.report.Plugin = info
	launch := ""
	if hs.Launch != nil && *hs.Launch == c.launch {
		launch = "; launch id sent back"
	}
	c.add(name, Pass, "name %q, version %q, %s%s", *hs.Name, version, count(len(fns), "function"), launch)
	if len(problems) > 0 {
		c.add("functions", Fail, "%s", summarize(problems))
	} else {
		c.add("functions", Pass, "%s, following the grammar", count(len(fns), "description"))
	}
	return true
}
