package raft

type raft struct{}
