// Command router runs the experiment router, or changes an experiment:
//
//	router -nats nats://127.0.0.1:4222 -experiment pneumonia
//	router -set-split 70/30 -by alice -reason "challenger looks worse"
//	router -set-mode shadow -by alice -reason "shadow before rollout"
//	router -new-epoch -by alice -reason "champion model replaced"
//
// A change of split or mode, and -new-epoch, start a new experiment epoch
// (printed with the experiment): results from then on are evaluated apart.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/router"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("router", func(ctx context.Context, args []string, stderr io.Writer) error {
		return run(ctx, args, os.Stdout, stderr)
	})
}

// parseSplit reads "70/30".
func parseSplit(s string) (proto.Split, error) {
	a, b, ok := strings.Cut(s, "/")
	champ, err1 := strconv.Atoi(strings.TrimSpace(a))
	chall, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return proto.Split{}, fmt.Errorf("split %q: want champion/challenger percentages such as 70/30", s)
	}
	sp := proto.Split{Champion: champ, Challenger: chall}
	return sp, sp.Check()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := router.DefaultConfig()
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL (env NATS_URL)")
	defSplit := fs.String("default-split", cfg.DefaultSplit.String(), "split used when the experiment does not exist yet")
	createStreams := fs.Bool("create-streams", false, "create or update the platform streams before starting")
	logLevel := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsRouter)
	setSplit := fs.String("set-split", "", "set the experiment's split (e.g. 70/30) and exit")
	setMode := fs.String("set-mode", "", "set the experiment's mode (split or shadow) and exit")
	newEpoch := fs.Bool("new-epoch", false, "start a new experiment epoch (e.g. after a model change) and exit")
	by := fs.String("by", svcmain.Env("USER", ""), "who makes a -set-split/-set-mode/-new-epoch change")
	reason := fs.String("reason", "", "why, for a -set-split/-set-mode/-new-epoch change")
	fs.StringVar(&cfg.Experiment, "experiment", svcmain.Env("EXPERIMENT", cfg.Experiment), "experiment name (env EXPERIMENT)")
	fs.StringVar(&cfg.DefaultMode, "default-mode", cfg.DefaultMode, "mode used when the experiment does not exist yet")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "messages routed concurrently")
	if err := svcmain.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log, err := svcmain.Logger(stderr, *logLevel)
	if err != nil {
		return err
	}
	log = log.With("service", "router")
	if cfg.DefaultSplit, err = parseSplit(*defSplit); err != nil {
		return fmt.Errorf("-default-split: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	nc, err := bus.Connect(*natsURL, "router")
	if err != nil {
		return err
	}
	defer func() {
		_ = nc.FlushTimeout(5 * time.Second)
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream on %s: %w", *natsURL, err)
	}

	if *setSplit != "" || *setMode != "" || *newEpoch {
		var split proto.Split
		if *setSplit != "" {
			if split, err = parseSplit(*setSplit); err != nil {
				return fmt.Errorf("-set-split: %w", err)
			}
		}
		if *setMode != "" && *setMode != proto.ModeSplit && *setMode != proto.ModeShadow {
			return fmt.Errorf("-set-mode %q: must be %q or %q", *setMode, proto.ModeSplit, proto.ModeShadow)
		}
		kv, err := router.OpenExperiments(ctx, js, cfg.Replicas)
		if err != nil {
			return err
		}
		// One write, so that a change of split and mode is one new epoch.
		exp, err := router.UpdateExperiment(ctx, kv, cfg.Experiment, *by, *reason, func(e *proto.Experiment) error {
			if *setSplit != "" {
				e.Split = split
			}
			if *setMode != "" {
				e.Mode = *setMode
			}
			if *newEpoch {
				e.Epoch++
			}
			return nil
		})
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(exp)
	}

	if *createStreams {
		if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamsConfig()); err != nil {
			return err
		}
	}
	ops := svcmain.NewOps()
	svc, err := router.New(cfg, router.Deps{JS: js, Logger: log, Metrics: ops.Registry})
	if err != nil {
		return err
	}
	ops.Check(health.NATS(nc), health.Func("experiment", func() bool { _, ok := svc.Experiment(); return ok }))
	ops.Consumers(js, proto.ConsumerRouter)
	_, stopOps, err := ops.Start(ctx, *opsAddr, log)
	if err != nil {
		return err
	}
	defer stopOps()
	return svc.Run(ctx)
}
