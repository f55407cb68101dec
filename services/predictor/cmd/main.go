// Command predictor serves the champion and/or challenger model against a NATS
// server: it follows the registry aliases, consumes inference.request.<arm> and
// publishes inference.result.<arm>.
//
//	predictor -nats nats://127.0.0.1:4222 -blob var/hap/blobs -env dev -arms champion,challenger
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/predictor"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("predictor", run)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := predictor.DefaultConfig()
	fs := flag.NewFlagSet("predictor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL (env NATS_URL)")
	blobLoc, blobEnv := svcmain.BlobFlags(fs)
	arms := fs.String("arms", strings.Join(cfg.Arms, ","), "arms served by this process, comma separated")
	models := fs.String("seed-models", "", "folder of ONNX models to register (and alias, if the aliases are unset) at start")
	champion := fs.String("champion-file", "pneumonia-simplecnn.onnx", "with -seed-models: the file the champion alias starts on")
	challenger := fs.String("challenger-file", "pneumonia-resnet.onnx", "with -seed-models: the file the challenger alias starts on")
	logLevel := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsPredictor)
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "requests processed concurrently per arm")
	fs.IntVar(&cfg.IntraOpThreads, "intra-op-threads", cfg.IntraOpThreads, "ONNX Runtime threads per inference")
	if err := svcmain.Parse(fs, args); err != nil {
		return err
	}
	cfg.Arms = strings.Split(*arms, ",")
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := svcmain.Logger(stderr, *logLevel)
	if err != nil {
		return err
	}
	lib, err := onnxrt.LibraryPath()
	if err != nil {
		return err
	}
	if err := onnxrt.Init(lib); err != nil {
		return err
	}
	store, err := svcmain.OpenBlobs(ctx, *blobLoc, *blobEnv, log)
	if err != nil {
		return err
	}
	nc, err := bus.Connect(*natsURL, "predictor")
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
	reg, err := registry.Open(ctx, js, registry.DefaultConfig())
	if err != nil {
		return err
	}
	if *models != "" {
		if _, err := reg.SeedFromDir(ctx, *models, map[string]string{
			"champion": *champion, "challenger": *challenger,
		}); err != nil {
			return err
		}
	}
	ops := svcmain.NewOps()
	svc, err := predictor.New(cfg, predictor.Deps{JS: js, Models: predictor.RegistrySource{Registry: reg}, Blobs: store, Log: log, Metrics: ops.Registry})
	if err != nil {
		return err
	}
	ops.Check(health.NATS(nc), health.Func("predictor", svc.Ready))
	var durables []string
	for _, arm := range cfg.Arms {
		durables = append(durables, proto.PredictorConsumer(arm))
	}
	ops.Consumers(js, durables...)
	_, stopOps, err := ops.Start(ctx, *opsAddr, log)
	if err != nil {
		return err
	}
	defer stopOps()
	log.Info("predictor starting", "nats", *natsURL, "arms", cfg.Arms, "workers", cfg.Workers)
	return svc.Run(ctx)
}
