package evaluator

import (
	"fmt"
	"net"
	"time"
)

// Policy decides which feedback counts when a request has several that differ.
type Policy string

const (
	// PolicyLatest counts the feedback recorded last.
	PolicyLatest Policy = "latest"
	// PolicyAdjudicate excludes requests with conflicting ground truths until a
	// feedback with source SourceAdjudication resolves them.
	PolicyAdjudicate Policy = "adjudicate"
)

// SourceAdjudication is the feedback source that resolves a conflict: the
// latest feedback with this source overrides all others of its request.
const SourceAdjudication = "adjudication"

// DefaultExperiment names the experiment of results that carry none.
const DefaultExperiment = "default"

// Config configures the evaluator.
type Config struct {
	// HTTPAddr is where Run serves Handler; empty disables the listener.
	HTTPAddr string
	// Policy for differing feedback on one request.
	Policy Policy
	// PublishInterval is the least time between two metrics publications.
	PublishInterval time.Duration
	// Workers per consumer (results, feedback).
	Workers int
	// AckWait is the consumers' redelivery timeout.
	AckWait time.Duration
	// MaxDeliver bounds delivery attempts before a message is dead-lettered.
	MaxDeliver int
	// KVReplicas of the state bucket (3 in a production cluster).
	KVReplicas int
	// OpTimeout bounds one KV operation or publication.
	OpTimeout time.Duration
	// MaxCASRetries bounds compare-and-set attempts per message before it is
	// retried later through the consumer.
	MaxCASRetries int
	// MaxFeedbackPerRequest bounds the distinct feedback kept per request; a
	// feedback beyond it is dead-lettered.
	MaxFeedbackPerRequest int
	// ReviewQueueMax bounds the in-memory review queue (the most recent
	// served predictions without feedback; older ones are left out of the
	// list, not out of the metrics).
	ReviewQueueMax int
	// ShutdownTimeout bounds the HTTP drain and the final publication.
	ShutdownTimeout time.Duration
	// Now is the clock of state timestamps and snapshots.
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:              "127.0.0.1:8084",
		Policy:                PolicyLatest,
		PublishInterval:       time.Second,
		Workers:               4,
		AckWait:               30 * time.Second,
		MaxDeliver:            10,
		KVReplicas:            1,
		OpTimeout:             5 * time.Second,
		MaxCASRetries:         50,
		MaxFeedbackPerRequest: 100,
		ReviewQueueMax:        20000,
		ShutdownTimeout:       10 * time.Second,
		Now:                   time.Now,
	}
}

// withDefaults fills zero fields from DefaultConfig, except HTTPAddr (empty
// disables the listener).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Policy == "" {
		c.Policy = d.Policy
	}
	if c.PublishInterval == 0 {
		c.PublishInterval = d.PublishInterval
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
	if c.KVReplicas == 0 {
		c.KVReplicas = d.KVReplicas
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = d.OpTimeout
	}
	if c.MaxCASRetries == 0 {
		c.MaxCASRetries = d.MaxCASRetries
	}
	if c.MaxFeedbackPerRequest == 0 {
		c.MaxFeedbackPerRequest = d.MaxFeedbackPerRequest
	}
	if c.ReviewQueueMax == 0 {
		c.ReviewQueueMax = d.ReviewQueueMax
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
			return fmt.Errorf("evaluator config: http_addr %q: %w", c.HTTPAddr, err)
		}
	}
	if c.Policy != PolicyLatest && c.Policy != PolicyAdjudicate {
		return fmt.Errorf("evaluator config: policy %q: must be %q or %q", c.Policy, PolicyLatest, PolicyAdjudicate)
	}
	if c.PublishInterval < 10*time.Millisecond {
		return fmt.Errorf("evaluator config: publish_interval %s: must be at least 10ms", c.PublishInterval)
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("evaluator config: workers %d: must be in 1..256", c.Workers)
	}
	if c.AckWait < time.Second {
		return fmt.Errorf("evaluator config: ack_wait %s: must be at least 1s", c.AckWait)
	}
	if c.MaxDeliver < 1 {
		return fmt.Errorf("evaluator config: max_deliver %d: must be at least 1", c.MaxDeliver)
	}
	if c.KVReplicas < 1 || c.KVReplicas > 5 {
		return fmt.Errorf("evaluator config: kv_replicas %d: must be in 1..5", c.KVReplicas)
	}
	if c.OpTimeout <= 0 {
		return fmt.Errorf("evaluator config: op_timeout %s: must be positive", c.OpTimeout)
	}
	if c.MaxCASRetries < 1 {
		return fmt.Errorf("evaluator config: max_cas_retries %d: must be at least 1", c.MaxCASRetries)
	}
	if c.MaxFeedbackPerRequest < 1 {
		return fmt.Errorf("evaluator config: max_feedback_per_request %d: must be at least 1", c.MaxFeedbackPerRequest)
	}
	if c.ReviewQueueMax < 1 {
		return fmt.Errorf("evaluator config: review_queue_max %d: must be at least 1", c.ReviewQueueMax)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("evaluator config: shutdown_timeout %s: must be positive", c.ShutdownTimeout)
	}
	return nil
}
