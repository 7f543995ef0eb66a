// Package metric holds the few metric types cairn's /metrics endpoint
// needs, without a Prometheus client library: Histogram, a fixed-bucket
// histogram of durations updated with atomics, and WriteHistogram, which
// renders one in the Prometheus text exposition format (version 0.0.4);
// WriteHistogramSamples renders one labelled series of a histogram family.
//
// # Use
//
//	fsync := metric.NewHistogram(metric.ExpBuckets(time.Millisecond, 2, 14))
//	start := time.Now()
//	...
//	fsync.Observe(time.Since(start))
//	...
//	metric.WriteHistogram(w, "etcd_disk_wal_fsync_duration_seconds",
//		"The latency distributions of fsync called by WAL.", fsync.Snapshot())
//
// ExpBuckets(time.Millisecond, 2, 14) are etcd's buckets for its disk
// histograms (1 ms to 8.192 s), so dashboards built for etcd keep working.
//
// # Format
//
// A histogram is written as Prometheus does: cumulative name_bucket{le="x"}
// lines in seconds, ending with le="+Inf", then name_sum (seconds) and
// name_count.
//
// # Concurrency
//
// Observe and Snapshot may be called from any goroutine at once. Observe
// does not allocate and takes no lock; a Snapshot taken while observations
// land may count an observation in count but not yet in sum (or the other
// way round): each field is exact, the set is not taken atomically.
package metric
