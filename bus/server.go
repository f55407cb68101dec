package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures an embedded NATS server with JetStream.
type ServerConfig struct {
	// StoreDir is the JetStream storage folder (required).
	StoreDir string
	// Host to listen on; default 127.0.0.1 (loopback only).
	Host string
	// Port to listen on; -1 (the default when 0) picks a free port.
	Port int
	// SyncAlways fsyncs every JetStream write before acknowledging it. Clinical
	// data deserves it; tests may turn it off for speed.
	SyncAlways bool
	// ReadyTimeout bounds the wait for the server to accept connections.
	ReadyTimeout time.Duration
	// ServerName names the server (shown by `nats server info`).
	ServerName string
}

// StartServer starts an embedded nats-server with JetStream on disk and waits
// until it accepts connections. The caller owns the server and must call
// Shutdown (then WaitForShutdown) on it. The server installs no signal handlers.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, fmt.Errorf("start nats server: store dir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = -1
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "hap-embedded"
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		SyncAlways: cfg.SyncAlways,
		MaxPayload: 8 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(cfg.ReadyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("start nats server: not ready after %s (store %s)", cfg.ReadyTimeout, cfg.StoreDir)
	}
	return s, nil
}

// Connect connects to url with settings suited to a long-running service:
// a name, unlimited reconnects with a bounded wait, and a connect timeout.
func Connect(url, name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.RetryOnFailedConnect(false),
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s as %s: %w", url, name, err)
	}
	return nc, nil
}
