// Package refbin finds the reference etcd 3.4 binaries (etcd, etcdctl) that
// cairn's comparison tests and benchmarks run side by side with cairn.
//
// The search order is the same for every caller:
//
//  1. the environment variable (EnvEtcd, EnvEtcdctl): if it is set, its
//     path must exist, so a typo is reported instead of silently skipping;
//  2. <module root>/.ref/etcd/usr/bin/<name>, where `./build.sh ref` (and
//     `./build.sh test`) unpacks Debian's etcd-server and etcd-client
//     packages;
//  3. $PATH.
//
// Find never downloads anything; tests skip with its error when it fails.
// It imports no testing package, so production code could use it too, but
// only tests and tools do. Safe for concurrent use.
package refbin
