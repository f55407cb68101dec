package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/decision"
	"github.com/healthcare-ai/platform/proto"
)

// Pending is a recommendation waiting for a person (approval mode).
type Pending struct {
	DecisionID    string      `json:"decision_id"`
	Action        string      `json:"action"`
	Epoch         int         `json:"epoch"`
	StageFrom     int         `json:"stage_from"`
	StageTo       int         `json:"stage_to"`
	SplitFrom     proto.Split `json:"split_from"`
	SplitTo       proto.Split `json:"split_to"`
	Reason        string      `json:"reason"`
	RecommendedAt time.Time   `json:"recommended_at"`
}

// Change is one entry of the stage history.
type Change struct {
	At        time.Time   `json:"at"`
	Epoch     int         `json:"epoch"` // the epoch whose data decided it
	Action    string      `json:"action"`
	Actor     string      `json:"actor"`
	StageFrom int         `json:"stage_from"`
	StageTo   int         `json:"stage_to"`
	SplitFrom proto.Split `json:"split_from"`
	SplitTo   proto.Split `json:"split_to"`
	Reason    string      `json:"reason"`
	Promoted  string      `json:"promoted,omitempty"` // name@version that became champion
	Archived  string      `json:"archived,omitempty"` // name@version archived
}

// maxHistory bounds the history kept in the state (the DECISIONS stream keeps
// everything).
const maxHistory = 100

// State is the controller's state of one experiment (KV bucket "rollout").
type State struct {
	Experiment string         `json:"experiment"`
	Epoch      int            `json:"epoch"` // the epoch Decision belongs to
	Decision   decision.State `json:"decision"`
	Looks      int            `json:"looks"`
	// Last is the latest decision of this epoch (nil before the first look).
	Last *decision.Decision `json:"last,omitempty"`
	// LastPublished is when a KEEP_TESTING was last published.
	LastPublished time.Time `json:"last_published"`
	LastAction    string    `json:"last_action,omitempty"`
	Pending       *Pending  `json:"pending,omitempty"`
	// RejectedEpoch is the epoch whose promotion a person rejected: no new
	// recommendation is made for it (a rollback still is).
	RejectedEpoch int      `json:"rejected_epoch,omitempty"`
	History       []Change `json:"history,omitempty"`
}

func (s *State) record(c Change) {
	s.History = append(s.History, c)
	if len(s.History) > maxHistory {
		s.History = s.History[len(s.History)-maxHistory:]
	}
}

// openState opens the rollout bucket.
func openState(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	return bus.OpenKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      proto.BucketRollout,
		Description: "rollout controller state per experiment: sequential test summaries, pending approval, stage history",
		History:     8,
		Storage:     jetstream.FileStorage,
	})
}

func loadState(ctx context.Context, kv jetstream.KeyValue, exp string) (State, uint64, error) {
	e, err := kv.Get(ctx, exp)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return State{Experiment: exp, Epoch: -1}, 0, nil
	}
	if err != nil {
		return State{}, 0, fmt.Errorf("read rollout state of %s: %w", exp, err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return State{}, 0, fmt.Errorf("rollout state of %s is corrupt: %w", exp, err)
	}
	return st, e.Revision(), nil
}

// saveState writes st with compare-and-set against rev (0: create).
func saveState(ctx context.Context, kv jetstream.KeyValue, st State, rev uint64) (uint64, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("encode rollout state: %w", err)
	}
	if rev == 0 {
		n, err := kv.Create(ctx, st.Experiment, data)
		if err != nil {
			return 0, fmt.Errorf("save rollout state of %s: %w", st.Experiment, err)
		}
		return n, nil
	}
	n, err := kv.Update(ctx, st.Experiment, data, rev)
	if err != nil {
		return 0, fmt.Errorf("save rollout state of %s: %w", st.Experiment, err)
	}
	return n, nil
}
