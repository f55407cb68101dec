// Package results lets a caller wait for the served inference result of a
// request it has just submitted: the synchronous prediction API is an
// asynchronous pipeline plus a Waiter.
//
// A Waiter holds one core NATS subscription on every result subject (JetStream
// publishes are delivered to plain subscribers too) and hands each served
// result to the caller waiting for its request_id. Callers must call Expect
// before submitting the request so that a fast result is not missed.
package results

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/proto"
)

// Waiter routes served inference results to waiting callers.
type Waiter struct {
	sub *nats.Subscription

	mu      sync.Mutex
	waiting map[string]chan *proto.InferenceResult
}

// NewWaiter subscribes to the result subjects on nc. Close unsubscribes.
func NewWaiter(nc *nats.Conn) (*Waiter, error) {
	w := &Waiter{waiting: map[string]chan *proto.InferenceResult{}}
	sub, err := nc.Subscribe(proto.InferenceResultsAll, w.deliver)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", proto.InferenceResultsAll, err)
	}
	// Results for requests nobody waits for are dropped quickly; a slow
	// consumer limit protects the process if the pipeline floods it.
	if err := sub.SetPendingLimits(100_000, 256<<20); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("set pending limits: %w", err)
	}
	if err := nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s: %w", proto.InferenceResultsAll, err)
	}
	w.sub = sub
	return w, nil
}

func (w *Waiter) deliver(m *nats.Msg) {
	id := m.Header.Get(proto.HeaderRequestID)
	w.mu.Lock()
	ch, ok := w.waiting[id]
	w.mu.Unlock()
	if !ok {
		return
	}
	var r proto.InferenceResult
	if err := proto.Decode(m.Data, &r); err != nil || !r.Served {
		return
	}
	select {
	case ch <- &r:
	default: // a duplicate delivery; the first result already went through
	}
}

// Expect registers interest in requestID and returns a function that waits
// for its served result. Call the returned function exactly once (it also
// unregisters), after submitting the request.
func (w *Waiter) Expect(requestID string) func(ctx context.Context) (*proto.InferenceResult, error) {
	ch := make(chan *proto.InferenceResult, 1)
	w.mu.Lock()
	w.waiting[requestID] = ch
	w.mu.Unlock()
	return func(ctx context.Context) (*proto.InferenceResult, error) {
		defer func() {
			w.mu.Lock()
			delete(w.waiting, requestID)
			w.mu.Unlock()
		}()
		select {
		case r := <-ch:
			return r, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for result of request_id=%s: %w", requestID, ctx.Err())
		}
	}
}

// Close unsubscribes.
func (w *Waiter) Close() error {
	if w.sub == nil {
		return nil
	}
	return w.sub.Unsubscribe()
}
