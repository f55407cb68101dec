// Command drift runs the drift monitor: it follows the inference results,
// compares each model version's recent inputs and positive rate with the
// training reference stored in its ONNX file in the registry, publishes
// DriftReport events on metrics.<experiment>.drift and DriftAlert state
// changes on alerts.<experiment>.drift.
//
//	drift -nats nats://127.0.0.1:4222 -window 500 -min-window 100
//
// It serves /metrics, /healthz and /readyz on -ops-addr (default
// 127.0.0.1:9468). Flags default from the environment: NATS_URL, OPS_ADDR,
// LOG_LEVEL. The first
// SIGINT/SIGTERM stops; a second one aborts.
package main

import (
	"context"
	"flag"
	"io"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/drift"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("drift", run)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := drift.DefaultConfig()
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", nats.DefaultURL), "NATS server URL (env NATS_URL)")
	fs.IntVar(&cfg.Rule.Window, "window", cfg.Rule.Window, "results kept per (experiment, arm, model version)")
	fs.IntVar(&cfg.Rule.MinWindow, "min-window", cfg.Rule.MinWindow, "results a signal needs before it can warn or alert")
	fs.Float64Var(&cfg.Rule.PSIWarn, "psi-warn", cfg.Rule.PSIWarn, "input histogram PSI that warns")
	fs.Float64Var(&cfg.Rule.PSIAlert, "psi-alert", cfg.Rule.PSIAlert, "input histogram PSI that alerts")
	fs.Float64Var(&cfg.Rule.KSAlertP, "ks-alert-p", cfg.Rule.KSAlertP, "KS p-value of the input means below which it alerts")
	fs.Float64Var(&cfg.Rule.RateAlertAlpha, "rate-alert-alpha", cfg.Rule.RateAlertAlpha, "two-sided level of the positive-rate binomial bound that alerts")
	fs.Float64Var(&cfg.Rule.MinRateDifference, "min-rate-difference", cfg.Rule.MinRateDifference, "smallest positive-rate difference that can alert")
	fs.IntVar(&cfg.EvalEvery, "eval-every", cfg.EvalEvery, "evaluate a window after this many new results")
	fs.DurationVar(&cfg.EvalInterval, "eval-interval", cfg.EvalInterval, "and at least this often while it has new results")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsDrift)
	level := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOG_LEVEL)")
	if err := svcmain.Parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return &svcmain.UsageError{Err: err}
	}
	log, err := svcmain.Logger(stderr, *level)
	if err != nil {
		return err
	}
	conn, err := svcmain.ConnectJetStream(ctx, *natsURL, "drift", true)
	if err != nil {
		return err
	}
	defer conn.Close(log)
	rcfg := registry.DefaultConfig()
	rcfg.Logger = log
	reg, err := registry.Open(ctx, conn.JS, rcfg)
	if err != nil {
		return err
	}
	ops := svcmain.NewOps()
	svc, err := drift.New(cfg, drift.Deps{JS: conn.JS, References: drift.RegistryReferences{Registry: reg}, Logger: log, Metrics: ops.Registry})
	if err != nil {
		return err
	}
	ops.Check(health.NATS(conn.NC))
	ops.Consumers(conn.JS, proto.ConsumerDriftResults)
	_, stopOps, err := ops.Start(ctx, *opsAddr, log)
	if err != nil {
		return err
	}
	defer stopOps()
	return svc.Run(ctx)
}
