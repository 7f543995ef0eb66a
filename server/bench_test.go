package server

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"cairn/raft"
)

// benchClient keeps enough idle connections for every parallel client.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// benchPut issues one PUT of a 256-byte value and fails b on any error.
func benchPut(b *testing.B, base, key, value string) {
	req, err := http.NewRequest(http.MethodPut, base+"/v2/keys"+key, strings.NewReader(url.Values{"value": {value}}.Encode()))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		b.Fatalf("PUT %s: %s", key, resp.Status)
	}
}

// BenchmarkClusterPut measures writes of 256-byte values through all three
// members of an in-process cluster on loopback, with 32 concurrent clients
// (16 per GOMAXPROCS on two cores). Profile with -cpuprofile.
func BenchmarkClusterPut(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var saves, ents atomic.Int64
			nodes := newCluster(b, 3, func(m *Member) {
				m.wrapIO = func(m *Member) {
					save := m.save
					m.save = func(hs raft.HardState, e []raft.Entry) error {
						saves.Add(1)
						ents.Add(int64(len(e)))
						return save(hs, e)
					}
				}
			})
			b.Cleanup(func() {
				b.ReportMetric(float64(saves.Load())/float64(b.N), "saves/op")
				b.ReportMetric(float64(ents.Load())/float64(max(1, saves.Load())), "entries/save")
			})
			value := strings.Repeat("v", 256)
			var seq atomic.Int64
			b.SetParallelism(max(1, clients/max(1, testingProcs())))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					benchPut(b, nodes[i%3].clientURL, fmt.Sprintf("/bench/k%d", i%10000), value)
				}
			})
		})
	}
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }
