package server

import "cairn/kv"

// GetAt serves the atIndex=N read extension (httpapi.AtIndexReader): the
// answer a local get gave right after store index atIndex was applied. Every
// member answers the same for any index its store history still retains;
// older indexes get kv's error 460.
func (m *Member) GetAt(path string, atIndex uint64, recursive, sorted bool) (*kv.Event, error) {
	return m.store.GetAt(path, atIndex, recursive, sorted, m.now().UnixNano())
}
