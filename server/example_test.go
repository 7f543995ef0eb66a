package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"cairn/server"
	"cairn/server/config"
	"cairn/tools/testport"
)

func freeAddr() string { return testport.MustAddr() }

// A single-member cluster: start it, write a key through the v2 keys API.
func ExampleMember() {
	dir, _ := os.MkdirTemp("", "cairn-example")
	defer os.RemoveAll(dir)
	client, peer := "http://"+freeAddr(), "http://"+freeAddr()
	cfg, err := config.Parse([]string{
		"--name", "box1", "--data-dir", dir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "box1=" + peer,
		"--heartbeat-interval", "20", "--election-timeout", "200",
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := server.New(cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	<-m.ReadyNotify()
	req, _ := http.NewRequest("PUT", client+"/v2/keys/greeting", strings.NewReader(url.Values{"value": {"hello"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	fmt.Print(string(body))
	// Output:
	// 201 Created
	// {"action":"set","node":{"key":"/greeting","value":"hello","modifiedIndex":4,"createdIndex":4}}
}
