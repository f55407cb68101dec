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
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/services/evaluator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }() // a second signal kills the process
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "evaluator:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := evaluator.DefaultConfig()
	fs := flag.NewFlagSet("evaluator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", envOr("NATS_URL", nats.DefaultURL), "NATS server URL (env NATS_URL)")
	fs.StringVar(&cfg.HTTPAddr, "http", envOr("EVALUATOR_HTTP_ADDR", cfg.HTTPAddr), "HTTP listen address, empty to disable (env EVALUATOR_HTTP_ADDR)")
	policy := fs.String("policy", envOr("EVALUATOR_POLICY", string(cfg.Policy)), "differing feedback on one request: latest or adjudicate (env EVALUATOR_POLICY)")
	fs.DurationVar(&cfg.PublishInterval, "publish-interval", cfg.PublishInterval, "least time between two metrics publications")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "messages processed concurrently per consumer")
	fs.IntVar(&cfg.KVReplicas, "kv-replicas", cfg.KVReplicas, "replicas of the state bucket")
	ensure := fs.Bool("ensure-streams", true, "create or update the platform streams on start")
	level := fs.String("log-level", envOr("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Policy = evaluator.Policy(*policy)
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level %q: %w", *level, err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

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
	svc, err := evaluator.New(cfg, evaluator.Deps{JS: js, Logger: log})
	if err != nil {
		return err
	}
	runErr := svc.Run(ctx)
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		log.Warn("flush nats connection", "err", err)
	}
	return runErr
}
