package drift

import (
	"fmt"
	"time"

	"github.com/healthcare-ai/platform/driftstat"
)

// Config configures the drift monitor.
type Config struct {
	// Rule holds the window size and thresholds (driftstat.DefaultConfig).
	Rule driftstat.Config
	// EvalEvery is the number of new results of a window that triggers an
	// evaluation (default 50).
	EvalEvery int
	// EvalInterval is the longest time a window with unjudged results waits
	// for an evaluation (default 30s).
	EvalInterval time.Duration
	// ReferenceRetry is how long a failure to read a model version's
	// reference (registry unavailable) is remembered before the next
	// attempt (default 30s). A version without a reference is remembered
	// for good.
	ReferenceRetry time.Duration
	// AckWait of the results consumer (default 30s).
	AckWait time.Duration
	// OpTimeout bounds one publication or reference fetch (default 10s).
	OpTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Rule:           driftstat.DefaultConfig(),
		EvalEvery:      50,
		EvalInterval:   30 * time.Second,
		ReferenceRetry: 30 * time.Second,
		AckWait:        30 * time.Second,
		OpTimeout:      10 * time.Second,
		Now:            time.Now,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if c.Rule == (driftstat.Config{}) {
		c.Rule = def.Rule
	}
	if c.EvalEvery == 0 {
		c.EvalEvery = def.EvalEvery
	}
	if c.EvalInterval == 0 {
		c.EvalInterval = def.EvalInterval
	}
	if c.ReferenceRetry == 0 {
		c.ReferenceRetry = def.ReferenceRetry
	}
	if c.AckWait == 0 {
		c.AckWait = def.AckWait
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = def.OpTimeout
	}
	if c.Now == nil {
		c.Now = def.Now
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := c.Rule.Validate(); err != nil {
		return err
	}
	if c.EvalEvery < 1 {
		return fmt.Errorf("drift: eval_every %d: must be at least 1", c.EvalEvery)
	}
	if c.EvalInterval < 10*time.Millisecond {
		return fmt.Errorf("drift: eval_interval %s: must be at least 10ms", c.EvalInterval)
	}
	if c.ReferenceRetry < 0 || c.AckWait < time.Second || c.OpTimeout <= 0 {
		return fmt.Errorf("drift: reference_retry %s, ack_wait %s, op_timeout %s: want >= 0, >= 1s, > 0", c.ReferenceRetry, c.AckWait, c.OpTimeout)
	}
	return nil
}
