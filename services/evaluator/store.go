package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// openBucket creates (or updates) the state bucket.
func (s *Service) openBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      proto.BucketEvaluatorState,
		Description: "evaluator join state: one RequestState per request_id",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    s.cfg.KVReplicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open kv bucket %s: %w", proto.BucketEvaluatorState, err)
	}
	return kv, nil
}

// update folds one change into the stored state of requestID with
// compare-and-set, retrying on conflicts, and then moves the aggregates by the
// state's change of contribution. mutate reports whether it changed the state;
// an unchanged state is not written. An error from mutate is permanent.
//
// Updates of one key are serialized in this process (striped locks), so a
// conflict can only come from another writer, and a write whose outcome is
// unknown (a timeout after the server stored it) can be settled on the next
// attempt by comparing the stored value with the one written (see unsure).
func (s *Service) update(ctx context.Context, requestID string, mutate func(*RequestState) (bool, error)) (bool, error) {
	key := StateKey(requestID)
	lock := &s.keyLocks[maphash.String(s.lockSeed, key)%uint64(len(s.keyLocks))]
	lock.Lock()
	defer lock.Unlock()
	for attempt := 1; ; attempt++ {
		opCtx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
		changed, err := s.tryUpdate(opCtx, key, requestID, mutate)
		cancel()
		if !errors.Is(err, errConflict) {
			return changed, err
		}
		if attempt >= s.cfg.MaxCASRetries {
			return false, fmt.Errorf("update state %s: %d compare-and-set conflicts in a row", key, attempt)
		}
		// Back off a little, with jitter, before re-reading.
		d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

var errConflict = errors.New("compare-and-set conflict")

// unsureWrite is a state write whose outcome is unknown: the request failed,
// but the server may have stored it. The next update of the key settles it.
type unsureWrite struct {
	rev  uint64 // revision the write was based on (0: create)
	old  contribution
	cur  *RequestState
	data []byte
}

// settle resolves an unsure write of key against the stored entry (nil when
// the key does not exist): if the stored value is the one written, the write
// happened and its transition is applied to the aggregates now.
func (s *Service) settle(key string, entry jetstream.KeyValueEntry) {
	s.unsureMu.Lock()
	u, ok := s.unsure[key]
	delete(s.unsure, key)
	s.unsureMu.Unlock()
	if !ok {
		return
	}
	switch {
	case entry != nil && bytes.Equal(entry.Value(), u.data):
		s.agg.apply(u.old, contribute(u.cur, s.cfg.Policy), u.cur)
		s.met.stateWritten(u.rev == 0)
		s.log.Info("unsure state write had succeeded", logKey, key, logRequestID, u.cur.RequestID)
	case entry == nil || entry.Revision() == u.rev:
		// It did not happen.
	default:
		s.log.Error("unsure state write overwritten by another writer; metrics may drift until restart",
			logKey, key, logRequestID, u.cur.RequestID)
	}
}

func (s *Service) tryUpdate(ctx context.Context, key, requestID string, mutate func(*RequestState) (bool, error)) (bool, error) {
	var old *RequestState
	var rev uint64
	entry, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		entry = nil
	case err != nil:
		return false, fmt.Errorf("read state %s: %w", key, err)
	default:
		old, err = decodeState(key, entry.Value())
		if err != nil {
			return false, bus.Permanent(err)
		}
		if old.RequestID != requestID {
			return false, bus.Permanent(fmt.Errorf("state %s belongs to request_id %q, not %q", key, old.RequestID, requestID))
		}
		rev = entry.Revision()
	}
	s.settle(key, entry)
	cur := newState(requestID)
	if old != nil {
		cur = old.clone()
	}
	changed, err := mutate(cur)
	if err != nil {
		return false, bus.Permanent(err)
	}
	if !changed {
		return false, nil
	}
	now := s.cfg.Now().UTC()
	if cur.CreatedAt.IsZero() {
		cur.CreatedAt = now
	}
	cur.UpdatedAt = now
	cur.Verdict = Judge(cur, s.cfg.Policy)
	data, err := json.Marshal(cur)
	if err != nil {
		return false, fmt.Errorf("encode state %s: %w", key, err)
	}
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, data)
	} else {
		_, err = s.kv.Update(ctx, key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, errConflict
	}
	oldC := contribute(old, s.cfg.Policy)
	if err != nil {
		s.unsureMu.Lock()
		s.unsure[key] = unsureWrite{rev: rev, old: oldC, cur: cur, data: data}
		s.unsureMu.Unlock()
		return false, fmt.Errorf("write state %s: %w", key, err)
	}
	s.agg.apply(oldC, contribute(cur, s.cfg.Policy), cur)
	s.met.stateWritten(rev == 0)
	return true, nil
}

// rebuild streams every stored state once and adds its contribution. It runs
// before the consumers start, so nothing else writes meanwhile. Decoding is
// spread over GOMAXPROCS goroutines (adding contributions commutes).
func (s *Service) rebuild(ctx context.Context) (int, error) {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("scan kv bucket %s: %w", proto.BucketEvaluatorState, err)
	}
	defer func() { _ = w.Stop() }()
	entries := make(chan jetstream.KeyValueEntry, 256)
	var loaded atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for e := range entries {
				st, err := decodeState(e.Key(), e.Value())
				if err != nil {
					// Not counted; messages for this request will be
					// dead-lettered with the same reason, so nothing is lost
					// silently.
					s.log.Error("skip unreadable state", logKey, e.Key(), logErr, err)
					continue
				}
				s.agg.apply(contribution{}, contribute(st, s.cfg.Policy), st)
				loaded.Add(1)
			}
		})
	}
	err = func() error {
		defer func() { close(entries); wg.Wait() }()
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case e, ok := <-w.Updates():
				if !ok {
					return fmt.Errorf("scan kv bucket %s: watcher closed", proto.BucketEvaluatorState)
				}
				if e == nil {
					return nil // all values present at the start were delivered
				}
				select {
				case entries <- e:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}()
	return int(loaded.Load()), err
}
