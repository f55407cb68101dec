package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/healthcare-ai/platform/decision"
	"github.com/healthcare-ai/platform/proto"
)

// Config configures the rollout controller.
type Config struct {
	// Experiment is the experiment to control (default "pneumonia").
	Experiment string
	// Mode is proto.RolloutApproval (default) or proto.RolloutAutomatic.
	Mode string
	// Stages are the challenger's traffic shares in percent, increasing, the
	// last one 100 (default 50, 70, 90, 100).
	Stages []int
	// Decision holds the statistical thresholds (decision.DefaultConfig).
	Decision decision.Config
	// KeepTestingEvery bounds how often an unchanged KEEP_TESTING is
	// published (default 1 minute); looks happen at every metrics snapshot.
	KeepTestingEvery time.Duration
	// Actor names the controller in the audit log (default
	// "rollout-controller").
	Actor string
	// OpTimeout bounds one KV, registry or publish operation (default 5 s).
	OpTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults: approval mode, stages 50/70/90/100.
func DefaultConfig() Config {
	return Config{
		Experiment:       "pneumonia",
		Mode:             proto.RolloutApproval,
		Stages:           []int{50, 70, 90, 100},
		Decision:         decision.DefaultConfig(),
		KeepTestingEvery: time.Minute,
		Actor:            "rollout-controller",
		OpTimeout:        5 * time.Second,
		Now:              time.Now,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Experiment == "" {
		c.Experiment = d.Experiment
	}
	if c.Mode == "" {
		c.Mode = d.Mode
	}
	if len(c.Stages) == 0 {
		c.Stages = d.Stages
	}
	if c.Decision == (decision.Config{}) {
		c.Decision = d.Decision
	}
	if c.KeepTestingEvery == 0 {
		c.KeepTestingEvery = d.KeepTestingEvery
	}
	if c.Actor == "" {
		c.Actor = d.Actor
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = d.OpTimeout
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := proto.ValidToken(c.Experiment); err != nil {
		return fmt.Errorf("rollout config: experiment %q: %v", c.Experiment, err)
	}
	if c.Mode != proto.RolloutApproval && c.Mode != proto.RolloutAutomatic {
		return fmt.Errorf("rollout config: mode %q: must be %q or %q", c.Mode, proto.RolloutApproval, proto.RolloutAutomatic)
	}
	if len(c.Stages) < 1 || c.Stages[len(c.Stages)-1] != 100 {
		return fmt.Errorf("rollout config: stages %v: the last stage must be 100 (the challenger takes all traffic)", c.Stages)
	}
	for i, s := range c.Stages {
		if s <= 0 || s > 100 || (i > 0 && s <= c.Stages[i-1]) {
			return fmt.Errorf("rollout config: stages %v: must be increasing challenger shares in (0, 100]", c.Stages)
		}
	}
	if slices.Contains(c.Stages[:len(c.Stages)-1], 100) {
		return fmt.Errorf("rollout config: stages %v: 100 must be last", c.Stages)
	}
	if err := c.Decision.Validate(); err != nil {
		return fmt.Errorf("rollout config: %w", err)
	}
	if c.KeepTestingEvery < 0 {
		return fmt.Errorf("rollout config: keep_testing_every %s: must not be negative", c.KeepTestingEvery)
	}
	return nil
}

// StageSplit is the split of stage i: the challenger gets Stages[i] percent.
func (c Config) StageSplit(i int) proto.Split {
	i = min(max(i, 0), len(c.Stages)-1)
	return proto.Split{Champion: 100 - c.Stages[i], Challenger: c.Stages[i]}
}
