// Command feedback runs the feedback service: POST /v1/feedback over HTTP and
// submissions on NATS, recorded as events on the FEEDBACK stream.
//
//	feedback -nats nats://127.0.0.1:4222 -http 127.0.0.1:8083
//
// Flags default from the environment: NATS_URL, FEEDBACK_HTTP_ADDR,
// LOG_LEVEL. The first SIGINT/SIGTERM drains and stops; a second one aborts.
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
	"github.com/healthcare-ai/platform/services/feedback"
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
		fmt.Fprintln(os.Stderr, "feedback:", err)
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
	cfg := feedback.DefaultConfig()
	fs := flag.NewFlagSet("feedback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", envOr("NATS_URL", nats.DefaultURL), "NATS server URL (env NATS_URL)")
	fs.StringVar(&cfg.HTTPAddr, "http", envOr("FEEDBACK_HTTP_ADDR", cfg.HTTPAddr), "HTTP listen address, empty to disable (env FEEDBACK_HTTP_ADDR)")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "NATS submissions processed concurrently")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body", cfg.MaxBodyBytes, "largest accepted submission in bytes")
	ensure := fs.Bool("ensure-streams", true, "create or update the platform streams on start")
	level := fs.String("log-level", envOr("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level %q: %w", *level, err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	nc, err := bus.Connect(*natsURL, "feedback")
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
	svc, err := feedback.New(cfg, feedback.Deps{JS: js, Logger: log})
	if err != nil {
		return err
	}
	runErr := svc.Run(ctx)
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		log.Warn("flush nats connection", "err", err)
	}
	return runErr
}
