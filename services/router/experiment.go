package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// ErrExperimentNotFound is wrapped when an experiment key does not exist.
var ErrExperimentNotFound = errors.New("experiment not found")

// OpenExperiments opens the experiments KV bucket (proto.BucketExperiments),
// creating it with the given replicas if it does not exist.
func OpenExperiments(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return bus.OpenKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      proto.BucketExperiments,
		Description: "champion/challenger experiments: mode and traffic split",
		History:     16,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
}

// GetExperiment reads an experiment and the revision of its key.
func GetExperiment(ctx context.Context, kv jetstream.KeyValue, name string) (proto.Experiment, uint64, error) {
	if err := proto.ValidToken(name); err != nil {
		return proto.Experiment{}, 0, fmt.Errorf("experiment name %q: %v", name, err)
	}
	e, err := kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return proto.Experiment{}, 0, fmt.Errorf("experiment %s: %w", name, ErrExperimentNotFound)
	}
	if err != nil {
		return proto.Experiment{}, 0, fmt.Errorf("read experiment %s: %w", name, err)
	}
	exp, err := decodeExperiment(name, e.Value())
	if err != nil {
		return proto.Experiment{}, 0, err
	}
	return exp, e.Revision(), nil
}

func decodeExperiment(name string, data []byte) (proto.Experiment, error) {
	var exp proto.Experiment
	if err := json.Unmarshal(data, &exp); err != nil {
		return proto.Experiment{}, fmt.Errorf("decode experiment %s: %w", name, err)
	}
	if exp.SchemaVersion > proto.SchemaVersion {
		return proto.Experiment{}, fmt.Errorf("experiment %s: schema_version %d is newer than supported %d", name, exp.SchemaVersion, proto.SchemaVersion)
	}
	if err := exp.Check(); err != nil {
		return proto.Experiment{}, fmt.Errorf("experiment %s: %w", name, err)
	}
	if exp.Name != name {
		return proto.Experiment{}, fmt.Errorf("experiment %s: record names %q", name, exp.Name)
	}
	return exp, nil
}

// EnsureExperiment creates exp under its name unless the key exists, and
// returns the experiment now stored and whether this call created it. An
// existing experiment is never overwritten.
func EnsureExperiment(ctx context.Context, kv jetstream.KeyValue, exp proto.Experiment) (proto.Experiment, bool, error) {
	if err := exp.Check(); err != nil {
		return proto.Experiment{}, false, fmt.Errorf("create experiment: %w", err)
	}
	data, err := json.Marshal(exp)
	if err != nil {
		return proto.Experiment{}, false, fmt.Errorf("create experiment %s: %w", exp.Name, err)
	}
	_, err = kv.Create(ctx, exp.Name, data)
	if err == nil {
		return exp, true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return proto.Experiment{}, false, fmt.Errorf("create experiment %s: %w", exp.Name, err)
	}
	cur, _, err := GetExperiment(ctx, kv, exp.Name)
	if err != nil {
		return proto.Experiment{}, false, err
	}
	return cur, false, nil
}

// UpdateExperiment applies change to the stored experiment with
// compare-and-set, retrying when another writer got in first, and stamps
// updated_at, updated_by and reason. The result must pass proto.Experiment's
// Check.
//
// It keeps the epoch (proto.Experiment.Epoch) right: when change alters the
// split, the mode or the stage and leaves the epoch alone, the epoch is
// incremented; a change that sets a higher epoch itself (the rollout
// controller, StartEpoch) is kept as is, and one that lowers it is refused.
// A write that changes none of them (a new reason, the same split again)
// stays in the current epoch.
func UpdateExperiment(ctx context.Context, kv jetstream.KeyValue, name, by, reason string, change func(*proto.Experiment) error) (proto.Experiment, error) {
	if strings.TrimSpace(by) == "" {
		return proto.Experiment{}, fmt.Errorf("update experiment %s: updated_by: required (who makes the change)", name)
	}
	for range 32 {
		exp, rev, err := GetExperiment(ctx, kv, name)
		if err != nil {
			return proto.Experiment{}, fmt.Errorf("update experiment: %w", err)
		}
		before := exp
		if err := change(&exp); err != nil {
			return proto.Experiment{}, fmt.Errorf("update experiment %s: %w", name, err)
		}
		switch {
		case exp.Epoch < before.Epoch:
			return proto.Experiment{}, fmt.Errorf("update experiment %s: epoch %d: must not go back (stored epoch %d)", name, exp.Epoch, before.Epoch)
		case exp.Epoch == before.Epoch && newEpoch(before, exp):
			exp.Epoch++
		}
		exp.Name = name
		exp.UpdatedAt = time.Now().UTC()
		exp.UpdatedBy = by
		exp.Reason = reason
		if err := exp.Check(); err != nil {
			return proto.Experiment{}, fmt.Errorf("update experiment %s: %w", name, err)
		}
		data, err := json.Marshal(exp)
		if err != nil {
			return proto.Experiment{}, fmt.Errorf("update experiment %s: %w", name, err)
		}
		_, err = kv.Update(ctx, name, data, rev)
		if err == nil {
			return exp, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return proto.Experiment{}, fmt.Errorf("update experiment %s: %w", name, err)
		}
	}
	return proto.Experiment{}, fmt.Errorf("update experiment %s: too many concurrent changes, try again", name)
}

// newEpoch reports whether the change from a to b starts a new epoch.
func newEpoch(a, b proto.Experiment) bool {
	return a.Split != b.Split || a.Mode != b.Mode || a.Stage != b.Stage
}

// SetSplit changes the traffic split of an experiment; routers apply it live.
// It is the operators' and the decision engine's way to move traffic. A new
// split starts a new epoch.
func SetSplit(ctx context.Context, kv jetstream.KeyValue, experiment string, split proto.Split, by, reason string) (proto.Experiment, error) {
	if err := split.Check(); err != nil {
		return proto.Experiment{}, fmt.Errorf("set split of experiment %s: %w", experiment, err)
	}
	return UpdateExperiment(ctx, kv, experiment, by, reason, func(e *proto.Experiment) error {
		e.Split = split
		return nil
	})
}

// SetMode switches an experiment between proto.ModeSplit and proto.ModeShadow.
// A new mode starts a new epoch.
func SetMode(ctx context.Context, kv jetstream.KeyValue, experiment, mode, by, reason string) (proto.Experiment, error) {
	if mode != proto.ModeSplit && mode != proto.ModeShadow {
		return proto.Experiment{}, fmt.Errorf("set mode of experiment %s: mode %q: must be %q or %q", experiment, mode, proto.ModeSplit, proto.ModeShadow)
	}
	return UpdateExperiment(ctx, kv, experiment, by, reason, func(e *proto.Experiment) error {
		e.Mode = mode
		return nil
	})
}

// StartEpoch increments the epoch of an experiment without changing its split
// or mode, for a change the experiment record does not show: a new model
// moved to one of the arms. Results routed from now on are counted apart from
// the earlier ones.
func StartEpoch(ctx context.Context, kv jetstream.KeyValue, experiment, by, reason string) (proto.Experiment, error) {
	return UpdateExperiment(ctx, kv, experiment, by, reason, func(e *proto.Experiment) error {
		e.Epoch++
		return nil
	})
}
