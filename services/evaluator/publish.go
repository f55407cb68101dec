package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// modelMetricsSchema names the schema of the ModelMetrics messages (the
// Hap-Schema header), which are not proto.Events.
const modelMetricsSchema = "metrics.model"

// publishLoop publishes the changed experiments at most once per
// PublishInterval: the first change after a quiet interval goes out at once,
// later ones are batched until the interval has passed, so the last change is
// always published within one interval.
func (s *Service) publishLoop(ctx context.Context) {
	var last time.Time
	var timer *time.Timer
	var due <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	publish := func() {
		if err := s.publishDirty(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("publish metrics; will retry", logErr, err)
		}
		last = time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.agg.changed:
			if due != nil {
				continue // already scheduled
			}
			wait := s.cfg.PublishInterval - time.Since(last)
			if wait <= 0 {
				publish()
				continue
			}
			timer = time.NewTimer(wait)
			due = timer.C
		case <-due:
			due = nil
			publish()
		}
	}
}

// publishDirty publishes the snapshot and per-arm metrics of every experiment
// changed since the last call. Experiments that fail are re-queued.
func (s *Service) publishDirty(ctx context.Context) error {
	var failed []string
	var errs []error
	for _, name := range s.agg.takeDirty() {
		if err := proto.ValidToken(name); err != nil {
			if !s.badName[name] {
				s.badName[name] = true
				s.log.Warn("experiment name cannot be a subject token; metrics served over HTTP only", logExperiment, name, logErr, err)
			}
			continue
		}
		if err := s.publishExperiment(ctx, s.Snapshot(name)); err != nil {
			failed = append(failed, name)
			errs = append(errs, err)
		}
	}
	if len(failed) > 0 {
		s.agg.markDirty(failed)
	}
	return errors.Join(errs...)
}

func (s *Service) publishExperiment(ctx context.Context, snap proto.MetricsSnapshot) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	for _, m := range snap.Models {
		data, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode metrics of %s/%s: %w", snap.Experiment, m.Arm, err)
		}
		msg := nats.NewMsg(proto.MetricsModelSubject(snap.Experiment, m.Arm))
		msg.Data = data
		msg.Header.Set(proto.HeaderSchema, modelMetricsSchema+"/"+strconv.Itoa(proto.SchemaVersion))
		msg.Header.Set(proto.HeaderMsgID, snap.MsgID()+":"+m.Arm)
		if _, err := s.js.PublishMsg(ctx, msg); err != nil {
			return fmt.Errorf("publish metrics of %s/%s: %w", snap.Experiment, m.Arm, err)
		}
	}
	if _, err := bus.Publish(ctx, s.js, proto.MetricsExperimentSubject(snap.Experiment), &snap); err != nil {
		return err
	}
	s.log.Debug("metrics published", logExperiment, snap.Experiment, logSnapshotID, snap.SnapshotID)
	return nil
}
