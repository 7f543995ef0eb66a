// Package raft is cairn's Raft consensus core (work in progress).
package raft
