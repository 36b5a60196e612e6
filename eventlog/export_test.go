package eventlog

// MemoryCap returns the capacity of the array that holds topic's events
// in a store of NewMemory's.
func MemoryCap(s Store, topic string) int {
	m := s.(*memory)
	m.mu.RLock()
	defer m.mu.RUnlock()
	return cap(m.topics[topic].events)
}
