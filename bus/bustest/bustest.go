// Package bustest starts a real embedded NATS JetStream server for tests, with
// the platform streams created, on a random loopback port.
package bustest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
)

// Env is a running test server and a client connection to it.
type Env struct {
	Server *server.Server
	Conn   *nats.Conn
	JS     jetstream.JetStream
	URL    string
}

// Start starts an embedded JetStream server in tb.TempDir(), connects to it and
// creates the platform streams. Everything is shut down by tb.Cleanup.
func Start(tb testing.TB) *Env {
	tb.Helper()
	s, err := bus.StartServer(bus.ServerConfig{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	env := &Env{Server: s, URL: s.ClientURL()}
	env.Conn = Connect(tb, env.URL)
	env.JS, err = jetstream.New(env.Conn)
	if err != nil {
		tb.Fatal(err)
	}
	if err := bus.EnsureStreams(tb.Context(), env.JS, bus.DefaultStreamsConfig()); err != nil {
		tb.Fatal(err)
	}
	return env
}

// Connect opens a connection closed by tb.Cleanup.
func Connect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := bus.Connect(url, tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// CheckFor polls fn until it returns nil or timeout passes, then fails tb with
// fn's last error.
func CheckFor(tb testing.TB, timeout, interval time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %s: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}
