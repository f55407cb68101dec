// Command tablewriter writes the lakehouse tables (bronze.xray_images,
// serving.inference_log, gold.prediction_feedback, gold.model_performance)
// as Parquet files into a folder or an S3 bucket.
//
//	tablewriter -nats nats://127.0.0.1:4222 -blob s3://hap-lake/hap?endpoint=http://127.0.0.1:9000&path_style=true -env pilot
//
// Flags default from the environment: NATS_URL, HAP_BLOB, HAP_ENV,
// LOG_LEVEL; S3 credentials come from the AWS chain (AWS_ACCESS_KEY_ID, ...).
// Run one per store and environment. The first SIGINT/SIGTERM flushes and
// stops; a second one aborts.
package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/tablewriter"
	"github.com/healthcare-ai/platform/svcmain"
)

func main() {
	svcmain.Main("tablewriter", run)
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := tablewriter.DefaultConfig()
	fs := flag.NewFlagSet("tablewriter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", svcmain.Env("NATS_URL", nats.DefaultURL), "NATS server URL (env NATS_URL)")
	loc, env := svcmain.BlobFlags(fs)
	tablesFlag := fs.String("tables", "", "comma-separated tables to write (default all)")
	fs.IntVar(&cfg.FlushRows, "flush-rows", cfg.FlushRows, "flush a batch at this many rows")
	fs.IntVar(&cfg.FlushBytes, "flush-bytes", cfg.FlushBytes, "flush a batch at this many bytes of events")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", cfg.FlushInterval, "flush a batch this long after its first row")
	ensure := fs.Bool("ensure-streams", true, "create or update the platform streams on start")
	level := fs.String("log-level", svcmain.Env("LOG_LEVEL", "info"), "log level: debug, info, warn, error (env LOG_LEVEL)")
	opsAddr := svcmain.OpsFlag(fs, svcmain.OpsTablewriter)
	if err := svcmain.Parse(fs, args); err != nil {
		return err
	}
	if *tablesFlag != "" {
		cfg.Tables = strings.Split(*tablesFlag, ",")
	}
	log, err := svcmain.Logger(stderr, *level)
	if err != nil {
		return err
	}
	store, err := svcmain.OpenBlobs(ctx, *loc, *env, log)
	if err != nil {
		return err
	}
	conn, err := svcmain.ConnectJetStream(ctx, *natsURL, "tablewriter", *ensure)
	if err != nil {
		return err
	}
	defer conn.Close(log)
	ops := svcmain.NewOps()
	svc, err := tablewriter.New(cfg, tablewriter.Deps{JS: conn.JS, Store: store, Logger: log, Metrics: ops.Registry})
	if err != nil {
		return err
	}
	ops.Check(health.NATS(conn.NC))
	var durables []string
	for _, t := range proto.AllTables {
		durables = append(durables, proto.TableConsumer(t))
	}
	ops.Consumers(conn.JS, durables...)
	_, stopOps, err := ops.Start(ctx, *opsAddr, log)
	if err != nil {
		return err
	}
	defer stopOps()
	log.Info("writing tables", "store", store.URI(proto.TablesRoot))
	return svc.Run(ctx)
}
