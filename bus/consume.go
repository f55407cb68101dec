package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/proto"
)

// permanentError marks an error that redelivery cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the message is poison (malformed, invalid,
// unsupported) and is terminated and dead-lettered instead of retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err (or an error it wraps) was marked Permanent or
// is a proto.ErrSchema decoding failure.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, proto.ErrSchema)
}

// Handler processes one message. It returns nil only once the message's effect
// is durable. It must honour ctx and may call msg.InProgress() for long work.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// ConsumerConfig describes a durable pull consumer and how it is processed.
type ConsumerConfig struct {
	Stream  string
	Durable string
	// FilterSubjects restricts the consumer (at least one).
	FilterSubjects []string
	// Workers is the number of messages processed concurrently (default 1).
	Workers int
	// MaxAckPending bounds unacknowledged messages (default 4*Workers, min 16).
	MaxAckPending int
	// AckWait is how long the server waits for an ack before redelivering
	// (default 30s).
	AckWait time.Duration
	// MaxDeliver bounds delivery attempts (default 10); the last failing attempt
	// is dead-lettered.
	MaxDeliver int
	// RetryDelay is the delay of a negative acknowledgement after a temporary
	// error (default 1s, doubled per attempt up to 30s).
	RetryDelay time.Duration
	// DeliverPolicy is where a new consumer starts (default: all messages).
	DeliverPolicy jetstream.DeliverPolicy
}

func (c *ConsumerConfig) defaults() error {
	if c.Stream == "" || c.Durable == "" {
		return fmt.Errorf("consumer: stream and durable name are required")
	}
	if len(c.FilterSubjects) == 0 {
		return fmt.Errorf("consumer %s: at least one filter subject is required", c.Durable)
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = max(16, 4*c.Workers)
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = time.Second
	}
	return nil
}

// JetStreamConfig returns the server-side consumer configuration.
func (c ConsumerConfig) JetStreamConfig() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		MaxAckPending: c.MaxAckPending,
		DeliverPolicy: c.DeliverPolicy,
	}
	if len(c.FilterSubjects) == 1 {
		cc.FilterSubject = c.FilterSubjects[0]
	} else {
		cc.FilterSubjects = c.FilterSubjects
	}
	return cc
}

// Consume creates (or updates) the durable consumer and processes its messages
// with cfg.Workers goroutines until ctx is cancelled. On cancellation it stops
// fetching, lets in-flight handlers finish (their context is detached from ctx
// so that a started effect completes), settles their messages and returns nil.
func Consume(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, log *slog.Logger, h Handler) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("consumer", cfg.Durable)
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cfg.JetStreamConfig())
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(min(cfg.MaxAckPending, 2*cfg.Workers+8)))
	if err != nil {
		return fmt.Errorf("pull from consumer %s: %w", cfg.Durable, err)
	}
	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	work := context.WithoutCancel(ctx)
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range msgs {
				settle(work, js, cfg, log, m, h(work, m))
			}
		}()
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	var loopErr error
	for {
		m, err := it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() == nil {
				loopErr = fmt.Errorf("consumer %s: %w", cfg.Durable, err)
			}
			break
		}
		msgs <- m
	}
	close(msgs)
	wg.Wait()
	return loopErr
}

// settle decides the acknowledgement of one message from its handler's error:
// done -> DoubleAck; permanent, or temporary on the last attempt -> dead-letter
// then Term; temporary -> NakWithDelay with backoff.
func settle(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, log *slog.Logger, m jetstream.Msg, herr error) {
	reqID := m.Headers().Get(proto.HeaderRequestID)
	md, _ := m.Metadata()
	var delivered uint64 = 1
	if md != nil {
		delivered = md.NumDelivered
	}
	if herr == nil {
		ackCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := m.DoubleAck(ackCtx); err != nil {
			// The effect is durable and idempotent; a redelivery will be a no-op.
			log.Warn("ack failed", "request_id", reqID, "subject", m.Subject(), "err", err)
		}
		return
	}
	last := int(delivered) >= cfg.MaxDeliver
	if !IsPermanent(herr) && !last {
		delay := cfg.RetryDelay << min(delivered-1, 5)
		delay = min(delay, 30*time.Second)
		log.Warn("retrying message", "request_id", reqID, "subject", m.Subject(), "attempt", delivered, "delay", delay, "err", herr)
		if err := m.NakWithDelay(delay); err != nil {
			log.Warn("nak failed", "request_id", reqID, "err", err)
		}
		return
	}
	reason := herr.Error()
	if last && !IsPermanent(herr) {
		reason = fmt.Sprintf("gave up after %d attempts: %s", delivered, reason)
	}
	if err := DeadLetter(ctx, js, cfg.Stream, cfg.Durable, m, reason); err != nil {
		// Not recorded: leave the message to be redelivered rather than lose it.
		log.Error("dead-letter failed; message will be redelivered", "request_id", reqID, "err", err)
		_ = m.NakWithDelay(cfg.RetryDelay)
		return
	}
	log.Error("message dead-lettered", "request_id", reqID, "subject", m.Subject(), "reason", reason)
	if err := m.TermWithReason(truncate(reason, 200)); err != nil {
		log.Warn("term failed", "request_id", reqID, "err", err)
	}
}

// DeadLetter publishes a copy of m, with its headers and the reason, on the
// dead-letter subject of the durable consumer that gave up on it. The copy's
// message id is derived from the stream sequence, so dead-lettering the same
// message twice stores it once. Consume calls it; consumers with their own
// loop (the table writer) call it directly.
func DeadLetter(ctx context.Context, js jetstream.JetStream, stream, durable string, m jetstream.Msg, reason string) error {
	md, _ := m.Metadata()
	dl := nats.NewMsg(proto.DeadLetterSubject(durable))
	dl.Data = m.Data()
	for k, v := range m.Headers() {
		if k == proto.HeaderMsgID {
			continue
		}
		dl.Header[k] = v
	}
	dl.Header.Set(proto.HeaderDeadReason, truncate(reason, 1000))
	dl.Header.Set(proto.HeaderDeadStream, stream)
	dl.Header.Set(proto.HeaderDeadSubject, m.Subject())
	if md != nil {
		seq := strconv.FormatUint(md.Sequence.Stream, 10)
		dl.Header.Set(proto.HeaderDeadSeq, seq)
		dl.Header.Set(proto.HeaderMsgID, "dead:"+durable+":"+seq)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(pctx, dl); err != nil {
		return fmt.Errorf("publish dead letter: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
