package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
)

// StreamsConfig sets the retention of the platform streams.
type StreamsConfig struct {
	// Replicas per stream: 1 for a single server, 3 in a production cluster.
	Replicas int
	// MaxAge of the event streams (XRAY, INFERENCE, FEEDBACK, DECISIONS,
	// DEADLETTER). Zero keeps events forever: the lakehouse backfill replays them.
	MaxAge time.Duration
	// MetricsPerSubject is how many snapshots METRICS keeps per subject.
	MetricsPerSubject int64
	// DuplicateWindow is the de-duplication window of Nats-Msg-Id.
	DuplicateWindow time.Duration
}

// DefaultStreamsConfig returns the settings of the embedded default.
func DefaultStreamsConfig() StreamsConfig {
	return StreamsConfig{Replicas: 1, MetricsPerSubject: 100, DuplicateWindow: 10 * time.Minute}
}

// StreamConfig returns the JetStream configuration of one platform stream.
func (c StreamsConfig) StreamConfig(name string) (jetstream.StreamConfig, error) {
	subj, err := proto.StreamSubjects(name)
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 10 * time.Minute
	}
	sc := jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{subj},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Replicas:   c.Replicas,
		MaxAge:     c.MaxAge,
		Duplicates: c.DuplicateWindow,
		Discard:    jetstream.DiscardOld,
	}
	if name == proto.StreamMetrics {
		sc.MaxMsgsPerSubject = c.MetricsPerSubject
		if sc.MaxMsgsPerSubject == 0 {
			sc.MaxMsgsPerSubject = 100
		}
		sc.MaxAge = 0
	}
	return sc, nil
}

// EnsureStreams creates or updates every platform stream.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	for _, name := range proto.AllStreams {
		sc, err := c.StreamConfig(name)
		if err != nil {
			return err
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
	}
	return nil
}
