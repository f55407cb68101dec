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
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("feedback", run)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := feedback.DefaultConfig()
	fs := flag.NewFlagSet("feedback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", nats.DefaultURL), "NATS server URL (env NATS_URL)")
	fs.StringVar(&cfg.HTTPAddr, "http", svcmain.Env("FEEDBACK_HTTP_ADDR", cfg.HTTPAddr), "HTTP listen address, empty to disable (env FEEDBACK_HTTP_ADDR)")
	authFile := svcmain.AuthFlag(fs)
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "NATS submissions processed concurrently")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body", cfg.MaxBodyBytes, "largest accepted submission in bytes")
	ensure := fs.Bool("ensure-streams", true, "create or update the platform streams on start")
	level := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOG_LEVEL)")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsFeedback)
	if err := svcmain.Parse(fs, args); err != nil {
		return err
	}
	log, err := svcmain.Logger(stderr, *level)
	if err != nil {
		return err
	}

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
	ops := svcmain.NewOps()
	users, err := svcmain.LoadAuth(ctx, *authFile, cfg.HTTPAddr, log)
	if err != nil {
		return err
	}
	svc, err := feedback.New(cfg, feedback.Deps{JS: js, Logger: log, Metrics: ops.Registry, Auth: users})
	if err != nil {
		return err
	}
	ops.Check(health.NATS(nc))
	ops.Consumers(js, proto.ConsumerFeedback)
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
