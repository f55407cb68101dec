package tablewriter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/tables"
)

// TableStats are the counters of one table's writer.
type TableStats struct {
	Table        string    `json:"table"`
	Committed    uint64    `json:"committed_seq"` // checkpoint: last stream sequence written
	Rows         int64     `json:"rows"`          // rows written since the table was created
	Flushes      int64     `json:"flushes"`       // flushes by this process
	Pending      int       `json:"pending_rows"`  // rows buffered, not yet written
	DeadLettered int64     `json:"dead_lettered"` // invalid events dead-lettered by this process
	Retries      int64     `json:"store_retries"` // failed store operations retried by this process
	Recovered    int       `json:"parts_recovered"`
	LastFlush    time.Time `json:"last_flush"`
}

// maxFetchWait bounds one fetch, hence how long a stop waits for the loop.
const maxFetchWait = time.Second

// writer fills one table from one consumer.
type writer[T any] struct {
	src     source[T]
	cfg     Config
	js      jetstream.JetStream
	store   blob.Store
	log     *slog.Logger
	durable string
	met     *metrics

	mu    sync.Mutex
	stats TableStats
}

// batch is the buffered, unacknowledged work of a writer.
type batch[T any] struct {
	msgs    []jetstream.Msg
	bySeq   map[uint64]int // stream sequence -> index in msgs
	rows    []tables.Dated[T]
	bytes   int
	first   uint64
	last    uint64
	started time.Time
}

func (b *batch[T]) reset() {
	*b = batch[T]{bySeq: map[uint64]int{}}
}

func (w *writer[T]) snapshot() TableStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *writer[T]) update(f func(*TableStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// run recovers the table, restarts the consumer at the checkpoint and writes
// until ctx is cancelled; then it flushes what it holds (bounded by
// ShutdownTimeout) and returns nil.
func (w *writer[T]) run(ctx context.Context) error {
	var cp tables.Checkpoint
	err := w.retry(ctx, "recover table", nil, func(ctx context.Context) error {
		var removed []tables.Part
		var err error
		cp, removed, err = tables.Recover(ctx, w.store, w.src.table)
		for _, p := range removed {
			w.log.Warn("removed part of an interrupted flush or compaction", "part", p.Key())
		}
		w.update(func(s *TableStats) { s.Recovered += len(removed) })
		return err
	})
	if err != nil {
		return nilIfCancelled(ctx, err)
	}
	w.update(func(s *TableStats) { s.Committed, s.Rows = cp.LastSeq, cp.Rows })
	cons, err := w.consumer(ctx, cp.LastSeq)
	if err != nil {
		return nilIfCancelled(ctx, err)
	}
	w.log.Info("table writer started", "committed_seq", cp.LastSeq, "rows", cp.Rows)

	var b batch[T]
	b.reset()
	lastProgress := time.Now()
	for ctx.Err() == nil {
		// Fetch cannot be cancelled: a short wait lets the loop notice ctx.
		wait := min(w.cfg.FlushInterval, maxFetchWait)
		if len(b.msgs) > 0 {
			wait = min(max(time.Until(b.started.Add(w.cfg.FlushInterval)), 5*time.Millisecond), maxFetchWait)
		}
		want := min(w.cfg.FlushRows-len(b.rows), 1000)
		mb, err := cons.Fetch(max(want, 1), jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn("fetch failed; retrying", "err", err)
			sleep(ctx, w.cfg.RetryMin)
		} else {
			for m := range mb.Messages() {
				w.add(ctx, &b, m, &cp)
			}
			if err := mb.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				w.log.Warn("fetch ended with an error", "err", err)
			}
		}
		if len(b.msgs) > 0 && time.Since(lastProgress) > w.cfg.AckWait/3 {
			inProgress(b.msgs)
			lastProgress = time.Now()
		}
		full := len(b.rows) >= w.cfg.FlushRows || b.bytes >= w.cfg.FlushBytes
		due := len(b.msgs) > 0 && time.Since(b.started) >= w.cfg.FlushInterval
		if full || due {
			if err := w.flush(ctx, &b, &cp); err != nil {
				break // cancelled while retrying: the final flush below tries once more
			}
			lastProgress = time.Now()
		}
	}
	if len(b.msgs) > 0 {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
		defer cancel()
		if err := w.flush(fctx, &b, &cp); err != nil {
			w.log.Warn("final flush failed; the messages will be written by the next run", "rows", len(b.rows), "err", err)
		}
	}
	return nil
}

// consumer (re)creates the table's durable consumer so that it delivers from
// the sequence after the checkpoint: the checkpoint in the store, not the
// consumer's ack state, decides what is written.
func (w *writer[T]) consumer(ctx context.Context, committed uint64) (jetstream.Consumer, error) {
	if err := w.js.DeleteConsumer(ctx, w.src.stream, w.durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("table %s: reset consumer %s: %w", w.src.table.Name, w.durable, err)
	}
	cc := jetstream.ConsumerConfig{
		Durable:       w.durable,
		Description:   "writes table " + w.src.table.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: max(2*w.cfg.FlushRows, 2000),
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   committed + 1,
	}
	if len(w.src.filters) == 1 {
		cc.FilterSubject = w.src.filters[0]
	} else {
		cc.FilterSubjects = w.src.filters
	}
	cons, err := w.js.CreateConsumer(ctx, w.src.stream, cc)
	if err != nil {
		return nil, fmt.Errorf("table %s: create consumer %s on %s: %w", w.src.table.Name, w.durable, w.src.stream, err)
	}
	return cons, nil
}

// add puts one message into the batch.
func (w *writer[T]) add(ctx context.Context, b *batch[T], m jetstream.Msg, cp *tables.Checkpoint) {
	md, err := m.Metadata()
	if err != nil {
		w.log.Error("message without metadata; leaving it for redelivery", "subject", m.Subject(), "err", err)
		return
	}
	seq := md.Sequence.Stream
	if seq <= cp.LastSeq {
		_ = m.Ack() // already in the table
		return
	}
	if i, ok := b.bySeq[seq]; ok {
		b.msgs[i] = m // a redelivery of a buffered message: ack the newest delivery
		return
	}
	rows, err := w.src.rows(m, seq)
	if err != nil {
		reqID := m.Headers().Get(proto.HeaderRequestID)
		derr := w.retry(ctx, "dead-letter invalid event", nil, func(ctx context.Context) error {
			return bus.DeadLetter(ctx, w.js, w.src.stream, w.durable, m, err.Error())
		})
		if derr != nil {
			return // cancelled: not in the batch, so redelivered to the next run
		}
		w.log.Error("invalid event dead-lettered", "request_id", reqID, "subject", m.Subject(), "seq", seq, "err", err)
		w.update(func(s *TableStats) { s.DeadLettered++ })
	}
	if len(b.msgs) == 0 {
		b.started = time.Now()
		b.first = seq
	}
	b.bySeq[seq] = len(b.msgs)
	b.msgs = append(b.msgs, m)
	b.rows = append(b.rows, rows...)
	b.bytes += len(m.Data())
	b.first = min(b.first, seq)
	b.last = max(b.last, seq)
	w.update(func(s *TableStats) { s.Pending = len(b.rows) })
}

// flush writes the batch's parts and checkpoint, then acknowledges its
// messages. It retries store errors until ctx ends.
func (w *writer[T]) flush(ctx context.Context, b *batch[T], cp *tables.Checkpoint) error {
	start := time.Now()
	byDate := map[string][]T{}
	for _, r := range b.rows {
		byDate[r.Date] = append(byDate[r.Date], r.Row)
	}
	dates := make([]string, 0, len(byDate))
	for d := range byDate {
		dates = append(dates, d)
	}
	slices.Sort(dates)
	for _, d := range dates {
		part := tables.Part{Table: w.src.table, Date: d, First: b.first, Last: b.last}
		err := w.retry(ctx, "write part", b.msgs, func(ctx context.Context) error {
			return tables.WritePart(ctx, w.store, part, byDate[d])
		})
		if err != nil {
			return err
		}
	}
	next := tables.Checkpoint{LastSeq: b.last, Rows: cp.Rows + int64(len(b.rows)), UpdatedAt: time.Now().UTC()}
	err := w.retry(ctx, "save checkpoint", b.msgs, func(ctx context.Context) error {
		return tables.SaveCheckpoint(ctx, w.store, w.src.table, next)
	})
	if err != nil {
		return err
	}
	*cp = next
	for _, m := range b.msgs {
		// A lost ack is harmless: the redelivered message is at or below the
		// checkpoint and is skipped.
		_ = m.Ack()
	}
	w.log.Debug("table flushed", "rows", len(b.rows), "first_seq", b.first, "last_seq", b.last, "partitions", len(dates))
	w.met.flushed(w.src.table.Name, len(b.rows), start)
	w.update(func(s *TableStats) {
		s.Committed, s.Rows, s.Pending = next.LastSeq, next.Rows, 0
		s.Flushes++
		s.LastFlush = next.UpdatedAt
	})
	b.reset()
	return nil
}

// retry runs op with a per-attempt timeout until it succeeds or ctx ends,
// backing off between attempts and keeping msgs in progress meanwhile.
func (w *writer[T]) retry(ctx context.Context, what string, msgs []jetstream.Msg, op func(context.Context) error) error {
	delay := w.cfg.RetryMin
	progressed := time.Now()
	for attempt := 1; ; attempt++ {
		octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
		err := op(octx)
		cancel()
		if err == nil {
			if attempt > 1 {
				w.log.Info("store operation succeeded after retries", "op", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("table %s: %s: %w (gave up: %v)", w.src.table.Name, what, err, ctx.Err())
		}
		w.update(func(s *TableStats) { s.Retries++ })
		w.met.flushError(w.src.table.Name)
		w.log.Warn("store operation failed; retrying", "op", what, "attempt", attempt, "delay", delay, "err", err)
		if !sleep(ctx, delay) {
			return fmt.Errorf("table %s: %s: %w (gave up: %v)", w.src.table.Name, what, err, ctx.Err())
		}
		delay = min(2*delay, w.cfg.RetryMax)
		if len(msgs) > 0 && time.Since(progressed) > w.cfg.AckWait/3 {
			inProgress(msgs)
			progressed = time.Now()
		}
	}
}

func inProgress(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.InProgress()
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func nilIfCancelled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
