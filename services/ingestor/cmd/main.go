// Command ingestor runs the image ingestor: the NATS submission consumer and
// the HTTP upload API, or, with -dir, a one-shot ingestion of a folder.
//
//	ingestor -nats nats://127.0.0.1:4222 -blob-dir var/blob
//	ingestor -dir data/chest_xray            # ingest a folder and exit
//
// The patient-id salt comes from the environment (PATIENT_SALT) or a file
// (-patient-salt-file), never from a flag value, so it does not show in ps.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/services/ingestor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestor:", err)
		os.Exit(1)
	}
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
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
	natsURL := fs.String("nats", env("NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL (env NATS_URL)")
	blobDir := fs.String("blob-dir", env("BLOB_DIR", "var/blob"), "folder of the blob store (env BLOB_DIR)")
	saltFile := fs.String("patient-salt-file", env("PATIENT_SALT_FILE", ""), "file holding the patient-id salt (else env PATIENT_SALT)")
	dir := fs.String("dir", "", "ingest this folder once and exit (Kaggle layout or flat)")
	createStreams := fs.Bool("create-streams", false, "create or update the platform streams before starting")
	logLevel := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	fs.StringVar(&cfg.HTTPAddr, "http", env("INGESTOR_HTTP_ADDR", cfg.HTTPAddr), "HTTP listen address, empty for none (env INGESTOR_HTTP_ADDR)")
	fs.Int64Var(&cfg.MaxBytes, "max-bytes", cfg.MaxBytes, "largest accepted image in bytes")
	fs.IntVar(&cfg.MinSide, "min-side", cfg.MinSide, "smallest accepted width and height in pixels")
	fs.IntVar(&cfg.MaxSide, "max-side", cfg.MaxSide, "largest accepted width and height in pixels")
	fs.IntVar(&cfg.Workers, "workers", envInt("INGESTOR_WORKERS", cfg.Workers), "NATS submissions processed concurrently")
	fs.IntVar(&cfg.DirConcurrency, "dir-concurrency", cfg.DirConcurrency, "files in flight with -dir")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level %q: %w", *logLevel, err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("service", "ingestor")

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
	store, err := blob.NewDir(*blobDir)
	if err != nil {
		return err
	}
	if n, err := store.RemoveTemp(ctx, time.Hour); err != nil {
		return err
	} else if n > 0 {
		log.Info("removed temporary files of interrupted writes", "count", n)
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
	svc, err := ingestor.New(cfg, ingestor.Deps{JS: js, Store: store, Logger: log})
	if err != nil {
		return err
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
