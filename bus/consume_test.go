package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
)

func feedback(i int) *proto.FeedbackRecorded {
	return &proto.FeedbackRecorded{FeedbackID: fmt.Sprintf("f%d", i), RequestID: fmt.Sprintf("r%d", i), GroundTruth: proto.LabelNormal, Source: "test"}
}

func TestPublishDeduplicates(t *testing.T) {
	env := bustest.Start(t)
	ctx := t.Context()
	for range 3 {
		if _, err := bus.Publish(ctx, env.JS, proto.SubjectFeedbackRecorded, feedback(1)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := env.JS.Stream(ctx, proto.StreamFeedback)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream has %d messages after 3 publishes of one event, want 1", info.State.Msgs)
	}
}

func TestConsumeAcksRetriesAndDeadLetters(t *testing.T) {
	env := bustest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const n = 50
	for i := range n {
		if _, err := bus.Publish(ctx, env.JS, proto.SubjectFeedbackRecorded, feedback(i)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	done := map[string]int{}
	var attempts atomic.Int64
	cfg := bus.ConsumerConfig{
		Stream: proto.StreamFeedback, Durable: "test", FilterSubjects: []string{proto.SubjectFeedbackRecorded},
		Workers: 4, RetryDelay: 10 * time.Millisecond, MaxDeliver: 3,
	}
	errc := make(chan error, 1)
	go func() {
		errc <- bus.Consume(ctx, env.JS, cfg, nil, func(ctx context.Context, m jetstream.Msg) error {
			attempts.Add(1)
			var f proto.FeedbackRecorded
			if err := proto.Decode(m.Data(), &f); err != nil {
				return err
			}
			md, _ := m.Metadata()
			switch f.FeedbackID {
			case "f7": // poison: never retried
				return bus.Permanent(errors.New("bad input"))
			case "f8": // always failing: dead-lettered after MaxDeliver
				return errors.New("store down")
			case "f9": // fails once, then works
				if md.NumDelivered == 1 {
					return errors.New("temporary")
				}
			}
			mu.Lock()
			done[f.FeedbackID]++
			mu.Unlock()
			return nil
		})
	}()
	dead := func() (uint64, error) {
		s, err := env.JS.Stream(ctx, proto.StreamDeadLetter)
		if err != nil {
			return 0, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.State.Msgs, nil
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		d, err := dead()
		if err != nil {
			return err
		}
		if len(done) != n-2 || d != 2 {
			return fmt.Errorf("done %d of %d, dead letters %d of 2", len(done), n-2, d)
		}
		return nil
	})
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("consume returned %v", err)
	}
	for id, c := range done {
		if c != 1 {
			t.Errorf("%s processed %d times", id, c)
		}
	}
	if done["f9"] != 1 {
		t.Errorf("f9 (temporary failure) not processed after retry")
	}
	// f7 once, f8 three times (MaxDeliver), f9 twice, 47 others once.
	if got, want := attempts.Load(), int64(1+3+2+(n-3)); got != want {
		t.Errorf("handler attempts = %d, want %d", got, want)
	}
	m, err := env.JS.Stream(t.Context(), proto.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.GetLastMsgForSubject(t.Context(), proto.DeadLetterSubject("test"))
	if err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get(proto.HeaderDeadReason) == "" || raw.Header.Get(proto.HeaderDeadStream) != proto.StreamFeedback {
		t.Errorf("dead letter headers missing: %v", raw.Header)
	}
}
