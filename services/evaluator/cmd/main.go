// Command evaluator runs the evaluator: it joins inference results with
// radiologist feedback, publishes live metrics per experiment arm and serves
// them over HTTP (GET /v1/metrics, /v1/metrics/{experiment},
// /v1/requests/{request_id}).
//
//	evaluator -nats nats://127.0.0.1:4222 -http 127.0.0.1:8084 -policy latest
//
// Flags default from the environment: NATS_URL, EVALUATOR_HTTP_ADDR,
// EVALUATOR_POLICY, LOG_LEVEL. The first SIGINT/SIGTERM drains and stops; a
// second one aborts.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/evaluator"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("evaluator", run)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := evaluator.DefaultConfig()
	fs := flag.NewFlagSet("evaluator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", nats.DefaultURL), "NATS server URL (env NATS_URL)")
	fs.StringVar(&cfg.HTTPAddr, "http", svcmain.Env("EVALUATOR_HTTP_ADDR", cfg.HTTPAddr), "HTTP listen address, empty to disable (env EVALUATOR_HTTP_ADDR)")
	authFile := svcmain.AuthFlag(fs)
	policy := fs.String("policy", svcmain.Env("EVALUATOR_POLICY", string(cfg.Policy)), "differing feedback on one request: latest or adjudicate (env EVALUATOR_POLICY)")
	fs.DurationVar(&cfg.PublishInterval, "publish-interval", cfg.PublishInterval, "least time between two metrics publications")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "messages processed concurrently per consumer")
	fs.IntVar(&cfg.KVReplicas, "kv-replicas", cfg.KVReplicas, "replicas of the state bucket")
	ensure := fs.Bool("ensure-streams", true, "create or update the platform streams on start")
	level := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOG_LEVEL)")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsEvaluator)
	if err := svcmain.Parse(fs, args); err != nil {
		return err
	}
	cfg.Policy = evaluator.Policy(*policy)
	log, err := svcmain.Logger(stderr, *level)
	if err != nil {
		return err
	}

	nc, err := bus.Connect(*natsURL, "evaluator")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if *ensure {
		if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamsConfig()); err != nil {
			return err
		}
	}
	ops := svcmain.NewOps()
	users, err := svcmain.LoadAuth(ctx, *authFile, cfg.HTTPAddr, log)
	if err != nil {
		return err
	}
	svc, err := evaluator.New(cfg, evaluator.Deps{JS: js, Logger: log, Metrics: ops.Registry, Auth: users})
	if err != nil {
		return err
	}
	ops.Check(health.NATS(nc), health.Closed("evaluator", svc.Ready()))
	ops.Consumers(js, proto.ConsumerEvaluatorResults, proto.ConsumerEvaluatorFeedback)
	_, stopOps, err := ops.Start(ctx, *opsAddr, log)
	if err != nil {
		return err
	}
	defer stopOps()
	runErr := svc.Run(ctx)
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		log.Warn("flush nats connection", "err", err)
	}
	return runErr
}
