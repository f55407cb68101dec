package feedback

import (
	"fmt"
	"net"
	"time"
)

// Config configures the feedback service.
type Config struct {
	// HTTPAddr is where Run serves Handler; empty disables the listener (a
	// launcher mounts Handler itself). Default loopback only.
	HTTPAddr string
	// MaxBodyBytes bounds a submission (HTTP body or NATS message).
	MaxBodyBytes int64
	// PublishTimeout bounds the wait for JetStream's acknowledgement.
	PublishTimeout time.Duration
	// Workers is the number of NATS submissions processed concurrently.
	Workers int
	// AckWait is the consumer's redelivery timeout.
	AckWait time.Duration
	// MaxDeliver bounds delivery attempts of a submission before it is
	// dead-lettered.
	MaxDeliver int
	// ShutdownTimeout bounds the drain of HTTP requests on shutdown.
	ShutdownTimeout time.Duration
	// Now is the clock (RecordedAt, RejectedAt).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:        "127.0.0.1:8083",
		MaxBodyBytes:    64 << 10,
		PublishTimeout:  5 * time.Second,
		Workers:         4,
		AckWait:         30 * time.Second,
		MaxDeliver:      10,
		ShutdownTimeout: 10 * time.Second,
		Now:             time.Now,
	}
}

// withDefaults fills zero fields from DefaultConfig, except HTTPAddr (empty
// disables the listener).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = d.PublishTimeout
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.AckWait == 0 {
		c.AckWait = d.AckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = d.MaxDeliver
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return fmt.Errorf("feedback config: http_addr %q: %w", c.HTTPAddr, err)
		}
	}
	if c.MaxBodyBytes <= 0 || c.MaxBodyBytes > 8<<20 {
		return fmt.Errorf("feedback config: max_body_bytes %d: must be in 1..%d", c.MaxBodyBytes, 8<<20)
	}
	if c.PublishTimeout <= 0 {
		return fmt.Errorf("feedback config: publish_timeout %s: must be positive", c.PublishTimeout)
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("feedback config: workers %d: must be in 1..256", c.Workers)
	}
	if c.AckWait < time.Second {
		return fmt.Errorf("feedback config: ack_wait %s: must be at least 1s", c.AckWait)
	}
	if c.MaxDeliver < 1 {
		return fmt.Errorf("feedback config: max_deliver %d: must be at least 1", c.MaxDeliver)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("feedback config: shutdown_timeout %s: must be positive", c.ShutdownTimeout)
	}
	return nil
}
