package envelope

// HeartbeatsQueued is how many heartbeats the shared clock holds.
func HeartbeatsQueued() int {
	sharedClock.mu.Lock()
	defer sharedClock.mu.Unlock()
	return len(sharedClock.queue)
}
