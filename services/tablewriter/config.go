package tablewriter

import (
	"fmt"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// Config configures the table writer.
type Config struct {
	// Tables to write, by name ("serving.inference_log" or "inference_log");
	// empty means every table.
	Tables []string
	// FlushRows flushes a batch once it holds this many rows.
	FlushRows int
	// FlushBytes flushes a batch once its messages hold this many bytes.
	FlushBytes int
	// FlushInterval flushes a non-empty batch this long after its first row.
	FlushInterval time.Duration
	// AckWait is the consumers' redelivery timeout; the writer keeps its
	// batch's messages in progress while it waits or retries.
	AckWait time.Duration
	// RetryMin and RetryMax bound the backoff between store retries.
	RetryMin, RetryMax time.Duration
	// OpTimeout bounds one store operation.
	OpTimeout time.Duration
	// ShutdownTimeout bounds the last flush when Run is stopped; messages not
	// flushed by then are redelivered to the next run.
	ShutdownTimeout time.Duration
}

// DefaultConfig returns the defaults: flush at 10,000 rows, 8 MiB or 30 s.
func DefaultConfig() Config {
	return Config{
		FlushRows:       10000,
		FlushBytes:      8 << 20,
		FlushInterval:   30 * time.Second,
		AckWait:         2 * time.Minute,
		RetryMin:        200 * time.Millisecond,
		RetryMax:        30 * time.Second,
		OpTimeout:       30 * time.Second,
		ShutdownTimeout: 30 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.FlushRows == 0 {
		c.FlushRows = d.FlushRows
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = d.FlushBytes
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.AckWait == 0 {
		c.AckWait = d.AckWait
	}
	if c.RetryMin == 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = d.RetryMax
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = d.OpTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.FlushRows < 1:
		return fmt.Errorf("tablewriter config: flush_rows %d: must be at least 1", c.FlushRows)
	case c.FlushBytes < 1024:
		return fmt.Errorf("tablewriter config: flush_bytes %d: must be at least 1024", c.FlushBytes)
	case c.FlushInterval < 10*time.Millisecond:
		return fmt.Errorf("tablewriter config: flush_interval %s: must be at least 10ms", c.FlushInterval)
	case c.AckWait < 3*c.FlushInterval:
		return fmt.Errorf("tablewriter config: ack_wait %s: must be at least 3 x flush_interval (%s)", c.AckWait, c.FlushInterval)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("tablewriter config: retry backoff %s..%s: need 0 < min <= max", c.RetryMin, c.RetryMax)
	}
	for _, name := range c.Tables {
		if _, err := proto.LookupTable(name); err != nil {
			return fmt.Errorf("tablewriter config: %w", err)
		}
	}
	return nil
}
