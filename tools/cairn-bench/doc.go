// Command cairn-bench is a closed-loop load generator for any etcd v2 keys
// API endpoint list, so the same tool measures cairn and etcd (3.4 with
// --enable-v2=true) side by side, plus two calibration probes for the box it
// runs on.
//
// Usage:
//
//	cairn-bench WORKLOAD [flags]
//	cairn-bench put   --endpoints http://127.0.0.1:2379,http://127.0.0.1:22379 --clients 32 --duration 10s
//	cairn-bench get   --clients 32 --keys 1000        # local reads; seeds the keys first
//	cairn-bench qget  --clients 32 --keys 1000        # ?quorum=true reads
//	cairn-bench cas   --clients 32 --keys 4           # GET + PUT ?prevIndex= on 4 hot keys
//	cairn-bench watch --watchers 1000 --total 200     # fan-out delivery latency
//	cairn-bench fsync --dir /var/lib/cairn --total 1000
//	cairn-bench rtt
//	cairn-bench report etcd.jsonl cairn.jsonl         # table of medians and ratios
//
// Workloads. Every client runs a closed loop: it sends its next request as
// soon as the previous one is answered. Clients pick keys /bench/k<i>
// uniformly at random from --keys keys (PCG seeded by client number, so runs
// are repeatable). Values are --value-size bytes.
//
//   - put: PUT value=<value-size bytes>.
//   - get: GET, served locally by the member (etcd's "serializable").
//   - qget: GET ?quorum=true, which goes through consensus.
//   - cas: GET the key, then PUT ?prevIndex=<its modifiedIndex>; with few keys
//     and many clients most races are lost. One op is the whole round;
//     successes and errorCode 101 failures are counted separately (a 101 is
//     not an error).
//   - watch: --watchers stream watchers (GET ?wait=true&stream=true, spread
//     over the endpoints, one TCP connection each) on one key, or on the
//     prefix with --watch-recursive; one writer sends PUTs to the first
//     endpoint, one at a time. Delivery latency is the time from the writer
//     starting to send the PUT to a watcher having read the event line; the
//     writer waits until every watcher saw the event (or --timeout, counted
//     as missed) before the next write. ops are deliveries.
//   - fsync: the raw disk latency, --size bytes appended then fdatasync.
//   - rtt: the loopback TCP round trip of one byte.
//
// Output: a progress line on stderr every second (not with --quiet), then
// ops, ops/s, errors and latency min/p50/p90/p99/p99.9/max/mean in
// milliseconds, or with --json one JSON object per run (see result). Latency
// comes from an HDR-style log-linear histogram (Histogram) with 128
// sub-buckets per power of two: quantiles are exact to within 0.8%.
//
// The load generator is built to stay out of the way on a 2-core box: the
// keys workloads use a small HTTP/1.1 client of their own (httpConn) with one
// keep-alive connection per client (or --conns shared ones), prebuilt request
// bytes, no per-request allocation in the steady state, and per-client
// histograms merged at the end. Watchers use the same client: each decodes
// its chunked stream in place and reads only the sequence number at the
// start of the event's value, with no JSON decoding (about 10 us of CPU per
// delivery on a 2-core KVM guest, against 18-20 us with net/http and
// encoding/json).
//
// report reads two files of --json lines (runs with the same --label are
// repeats; scripts may add {"label":..,"value":..,"unit":..} lines for other
// measurements) and prints, per label and figure, the median of A, of B and
// the ratio B/A. tools/bench-compare.sh drives all of this for etcd against
// cairn.
//
// Caveats: it only speaks plain http. The load generator shares the CPUs
// with the servers when run on the same box, so compare systems only within
// one run. A request cut off by the end of --duration is neither counted nor
// an error.
//
// Concurrency: the command is a single process; internally each client
// goroutine owns its histogram and takes connections from a channel pool;
// shared counters are atomics.
package main
