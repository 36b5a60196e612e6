package plugintest

// framingAndAsync runs the checks on everything the plugin sent, which
// the wire judged as it read it: the framing check and the async check.
func (c *checker) framingAndAsync() {
	c.wire.mu.Lock()
	problems := append([]string(nil), c.wire.problems...)
	asyncs, bad := c.wire.asyncs, append([]string(nil), c.wire.asyncBad...)
	c.wire.mu.Unlock()
	if len(problems) > 0 {
		c.add("framing", Fail, "%s", summarize(problems))
	} else {
		c.add("framing", Pass, "every frame and message was well-formed")
	}
	switch {
	case len(bad) > 0:
		c.add("async", Fail, "$/async %s", summarize(bad))
	case asyncs == 0:
		c.add("async", Skip, "the plugin sent no $/async during the check")
	default:
		c.add("async", Pass, "%s, well-formed", count(asyncs, "$/async notification"))
	}
}
