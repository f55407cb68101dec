// Command rollout runs the decision engine and rollout controller of one
// experiment: it follows the evaluator's metrics snapshots, decides PROMOTE /
// KEEP_TESTING / ROLLBACK with always-valid tests, moves the traffic split
// through the stages and serves GET /v1/rollout/{experiment} and POST
// .../approve, .../reject, .../start.
//
//	rollout -nats nats://127.0.0.1:4222 -http 127.0.0.1:8085 -mode approval
//
// Flags default from the environment: NATS_URL, ROLLOUT_HTTP_ADDR,
// ROLLOUT_MODE, LOG_LEVEL. Run one per experiment. The first SIGINT/SIGTERM
// stops; a second one aborts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/decision"
	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/rollout"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("rollout", run)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := rollout.DefaultConfig()
	fs := flag.NewFlagSet("rollout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", nats.DefaultURL), "NATS server URL (env NATS_URL)")
	httpAddr := fs.String("http", svcmain.Env("ROLLOUT_HTTP_ADDR", "127.0.0.1:8085"), "HTTP listen address, empty to disable (env ROLLOUT_HTTP_ADDR)")
	authFile := svcmain.AuthFlag(fs)
	fs.StringVar(&cfg.Experiment, "experiment", cfg.Experiment, "experiment to control")
	fs.StringVar(&cfg.Mode, "mode", svcmain.Env("ROLLOUT_MODE", cfg.Mode), "approval (recommend, a person approves) or automatic (env ROLLOUT_MODE)")
	stages := fs.String("stages", "50,70,90,100", "challenger share in percent at each stage, the last one 100")
	fs.Float64Var(&cfg.Decision.Alpha, "alpha", cfg.Decision.Alpha, "error guarantee of the always-valid tests")
	metric := fs.String("metric", string(cfg.Decision.Metric), "primary metric: accuracy, sensitivity, specificity, balanced_accuracy")
	fs.Float64Var(&cfg.Decision.SensitivityMargin, "sensitivity-margin", cfg.Decision.SensitivityMargin, "non-inferiority margin on sensitivity (0.02 = 2 points)")
	fs.IntVar(&cfg.Decision.MinLabelledPerArm, "min-labelled", cfg.Decision.MinLabelledPerArm, "labelled predictions each arm needs before a promotion")
	fs.Float64Var(&cfg.Decision.MinCoverage, "min-coverage", cfg.Decision.MinCoverage, "feedback coverage each arm needs before a promotion")
	level := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOG_LEVEL)")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsRollout)
	if err := svcmain.Parse(fs, args); err != nil {
		return err
	}
	cfg.Decision.Metric = decision.Metric(*metric)
	cfg.Stages = nil
	for _, f := range strings.Split(*stages, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return &svcmain.UsageError{Err: fmt.Errorf("-stages %q: %v", *stages, err)}
		}
		cfg.Stages = append(cfg.Stages, n)
	}
	if err := cfg.Validate(); err != nil {
		return &svcmain.UsageError{Err: err}
	}
	log, err := svcmain.Logger(stderr, *level)
	if err != nil {
		return err
	}
	conn, err := svcmain.ConnectJetStream(ctx, *natsURL, "rollout", true)
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
	users, err := svcmain.LoadAuth(ctx, *authFile, *httpAddr, log)
	if err != nil {
		return err
	}
	svc, err := rollout.New(cfg, rollout.Deps{JS: conn.JS, Registry: reg, Logger: log, Metrics: ops.Registry})
	if err != nil {
		return err
	}
	ops.Check(health.NATS(conn.NC), health.Closed("rollout", svc.Ready()))
	ops.Consumers(conn.JS) // an ordered consumer: stream sizes only
	_, stopOps, err := ops.Start(ctx, *opsAddr, log)
	if err != nil {
		return err
	}
	defer stopOps()
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", *httpAddr, err)
		}
		// Reads need a viewer, decisions an approver (recorded under the
		// signed-in user), as on the platform's listener.
		srv := &http.Server{Handler: auth.RequireRW(users, auth.RoleViewer, auth.RoleApprover, svc.Handler()), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("serving", "addr", ln.Addr().String())
	}
	return svc.Run(ctx)
}
