// Command ingestor runs the image ingestor: the NATS submission consumer and
// the HTTP upload API, or, with -dir, a one-shot ingestion of a folder.
//
//	ingestor -nats nats://127.0.0.1:4222 -blob var/hap/blobs -env dev
//	ingestor -dir data/chest_xray            # ingest a folder and exit
//
// The patient-id salt comes from the environment (PATIENT_SALT) or a file
// (-patient-salt-file), never from a flag value, so it does not show in ps.
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
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("ingestor", func(ctx context.Context, args []string, stderr io.Writer) error {
		return run(ctx, args, os.Stdout, stderr)
	})
}

func envInt(key string, def int) int {
	if v, ok := os.LookupEnv(key); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := ingestor.DefaultConfig()
	fs := flag.NewFlagSet("ingestor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL (env NATS_URL)")
	blobLoc, blobEnv := svcmain.BlobFlags(fs)
	saltFile := fs.String("patient-salt-file", svcmain.Env("PATIENT_SALT_FILE", ""), "file holding the patient-id salt (else env PATIENT_SALT)")
	dir := fs.String("dir", "", "ingest this folder once and exit (Kaggle layout or flat)")
	createStreams := fs.Bool("create-streams", false, "create or update the platform streams before starting")
	logLevel := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsIngestor)
	fs.StringVar(&cfg.HTTPAddr, "http", svcmain.Env("INGESTOR_HTTP_ADDR", cfg.HTTPAddr), "HTTP listen address, empty for none (env INGESTOR_HTTP_ADDR)")
	authFile := svcmain.AuthFlag(fs)
	fs.Int64Var(&cfg.MaxBytes, "max-bytes", cfg.MaxBytes, "largest accepted image in bytes")
	fs.IntVar(&cfg.MinSide, "min-side", cfg.MinSide, "smallest accepted width and height in pixels")
	fs.IntVar(&cfg.MaxSide, "max-side", cfg.MaxSide, "largest accepted width and height in pixels")
	fs.IntVar(&cfg.Workers, "workers", envInt("INGESTOR_WORKERS", cfg.Workers), "NATS submissions processed concurrently")
	fs.IntVar(&cfg.DirConcurrency, "dir-concurrency", cfg.DirConcurrency, "files in flight with -dir")
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
	log = log.With("service", "ingestor")

	cfg.PatientSalt = os.Getenv("PATIENT_SALT")
	if *saltFile != "" {
		b, err := os.ReadFile(*saltFile)
		if err != nil {
			return fmt.Errorf("read patient salt: %w", err)
		}
		cfg.PatientSalt = strings.TrimSpace(string(b))
	}
	if *dir != "" {
		cfg.HTTPAddr = ""
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	store, err := svcmain.OpenBlobs(ctx, *blobLoc, *blobEnv, log)
	if err != nil {
		return err
	}

	nc, err := bus.Connect(*natsURL, "ingestor")
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
	if *createStreams {
		if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamsConfig()); err != nil {
			return err
		}
	}
	ops := svcmain.NewOps()
	users, err := svcmain.LoadAuth(ctx, *authFile, cfg.HTTPAddr, log)
	if err != nil {
		return err
	}
	svc, err := ingestor.New(cfg, ingestor.Deps{JS: js, Store: store, Logger: log, Metrics: ops.Registry, Auth: users})
	if err != nil {
		return err
	}
	if *dir == "" {
		ops.Check(health.NATS(nc))
		ops.Consumers(js, proto.ConsumerIngestor)
		_, stopOps, err := ops.Start(ctx, *opsAddr, log)
		if err != nil {
			return err
		}
		defer stopOps()
	}
	if *dir != "" {
		sum, err := svc.IngestDir(ctx, *dir, ingestor.DirOptions{})
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			ingestor.Summary
			DurationMS int64 `json:"duration_ms"`
		}{sum, sum.Duration.Milliseconds()})
		return err
	}
	return svc.Run(ctx)
}
