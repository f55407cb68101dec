package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/blob/s3blob"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
)

// runServe implements "hap serve": the platform on the embedded default,
// running until interrupted.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := platform.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", "var/hap", "state `dir`: JetStream store, blobs, patient salt")
	fs.StringVar(&cfg.NATSURL, "nats", os.Getenv("NATS_URL"), "external NATS `url` (default: embedded server)")
	fs.IntVar(&cfg.NATSPort, "nats-port", cfg.NATSPort, "port of the embedded NATS server (-1: any free port)")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP listen `address`")
	fs.StringVar(&cfg.ModelsDir, "models", cfg.ModelsDir, "`dir` of the models that seed the registry on first start")
	fs.BoolVar(&cfg.SyncAlways, "sync-always", cfg.SyncAlways, "fsync every JetStream write before acknowledging it")
	blobLoc := fs.String("blob", os.Getenv("HAP_BLOB"), "blob store for images and tables: "+s3blob.Usage+" (default <data>/blobs; env HAP_BLOB)")
	fs.StringVar(&cfg.Env, "env", envOr("HAP_ENV", cfg.Env), "environment `name` (dev, pilot, prod): keys live under <env>/ in the store (env HAP_ENV)")
	fs.BoolVar(&cfg.TablesOff, "no-tables", false, "do not write the lakehouse tables")
	authSpec := authFlag(fs)
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: -log-level %q: %v", errUsage, *level, err)
	}
	if *blobLoc != "" {
		loc := *blobLoc
		cfg.OpenBlobs = func(ctx context.Context) (blob.Store, error) { return s3blob.Open(ctx, loc) }
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	users, tokensPath, created, err := loadAuth(ctx, *authSpec, cfg.DataDir, stdout, cfg.Logger)
	if err != nil {
		return err
	}
	cfg.Auth = users
	p, err := platform.Start(ctx, cfg)
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://%s", p.HTTPAddr())
	// Example commands: with authentication, each sends the token of the
	// user whose role the route needs.
	as := func(user string) string {
		if users == nil {
			return ""
		}
		if tokensPath == "" {
			return `-H "Authorization: Bearer $TOKEN" `
		}
		return fmt.Sprintf(`-H "Authorization: Bearer $(grep ^%s %s | cut -f2)" `, user, tokensPath)
	}
	fmt.Fprintf(stdout, "Healthcare AI Platform is running (Ctrl-C to stop)\n\n")
	switch {
	case users == nil:
		fmt.Fprintf(stdout, "  auth        OFF: every request is anonymous with every role (-auth off); use a users file outside development\n")
	case tokensPath != "":
		fmt.Fprintf(stdout, "  auth        bearer tokens; the local users' tokens are in %s\n", tokensPath)
		// The links hold a token: printed only on the start that created
		// it, so that later starts do not leave it in service logs.
		if toks, err := auth.ReadTokens(tokensPath); err == nil && created && toks["admin"] != "" {
			fmt.Fprintf(stdout, "  dashboard   %s/dashboard#token=%s\n", base, toks["admin"])
			fmt.Fprintf(stdout, "  review      %s/review#token=%s   (as the radiologist)\n", base, toks["radiologist"])
		} else {
			fmt.Fprintf(stdout, "  dashboard   %s/dashboard#token=$(grep ^admin %s | cut -f2)   (or sign in with your token)\n", base, tokensPath)
			fmt.Fprintf(stdout, "  review      %s/review\n", base)
		}
	default:
		fmt.Fprintf(stdout, "  auth        bearer tokens from %s\n", *authSpec)
		fmt.Fprintf(stdout, "  dashboard   %s/dashboard   (sign in with your token)\n", base)
	}
	if users == nil {
		fmt.Fprintf(stdout, "  dashboard   %s/dashboard\n", base)
		fmt.Fprintf(stdout, "  review      %s/review\n", base)
	}
	fmt.Fprintf(stdout, "  NATS        %s   (try: nats --server %s stream ls)\n", p.NATSURL(), p.NATSURL())
	fmt.Fprintf(stdout, "  upload      curl %s-F image=@xray.jpeg %s/v1/images\n", as("pacs"), base)
	fmt.Fprintf(stdout, "  predict     curl %s-F image=@xray.jpeg %s/v1/predict\n", as("pacs"), base)
	fmt.Fprintf(stdout, "  feedback    curl %s-d '{\"request_id\":\"...\",\"feedback_type\":\"true-positive\"}' %s/v1/feedback\n", as("radiologist"), base)
	fmt.Fprintf(stdout, "  metrics     curl %s%s/v1/metrics\n", as("viewer"), base)
	fmt.Fprintf(stdout, "  models      curl %s%s/v1/models\n", as("viewer"), base)
	fmt.Fprintf(stdout, "  health      curl %s/readyz\n", base)
	if !cfg.TablesOff {
		fmt.Fprintf(stdout, "  tables      hap sql -data %s -env %s -report comparison   (Parquet under %s)\n", cfg.DataDir, cfg.Env, p.Blobs.URI(proto.TablesRoot))
	}
	fmt.Fprintln(stdout)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping...")
	return p.Stop(context.WithoutCancel(ctx))
}
