package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/router"
)

const modelsUsage = `usage: hap models <command> [flags]

  ls [-name NAME]                              model versions and aliases
  register -file F.onnx [-name NAME]           register a new version (metadata from the ONNX file)
  alias -alias champion|challenger -model URI  point an alias at a version; starts a new experiment epoch
  archive -model URI                           archive a version (kept, never deleted; not aliasable)
  describe -model URI                          the version record, its metadata (model card), aliases
  resolve URI                                  print the version a models:/ URI names
  rethreshold -model URI -threshold T          register a copy with another decision threshold
  reference [-n N] [-write] F.onnx...          compute the drift reference on training images, store it in the file (offline)

Model URIs: models:/NAME/VERSION, models:/NAME@ALIAS (ALIAS: champion, challenger), NAME@VERSION.
Flags: -nats URL (env NATS_URL, default nats://127.0.0.1:4222), -by NAME (audit), -experiment NAME.`

// runModels implements "hap models": the model registry from the command line.
func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, modelsUsage)
		return fmt.Errorf("%w: want a subcommand", errUsage)
	}
	sub := args[0]
	if sub == "reference" {
		return runModelsReference(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("models "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", envOr("NATS_URL", nats.DefaultURL), "NATS server `url`")
	by := fs.String("by", os.Getenv("USER"), "who makes the change (audit trail)")
	name := fs.String("name", "", "model name")
	file := fs.String("file", "", "ONNX `file` to register")
	alias := fs.String("alias", "", "alias to move: champion or challenger")
	uri := fs.String("model", "", "model `URI`: models:/NAME/VERSION, models:/NAME@ALIAS or NAME@VERSION")
	threshold := fs.Float64("threshold", 0, "rethreshold: the new decision threshold in (0, 1)")
	experiment := fs.String("experiment", "pneumonia", "experiment whose epoch an alias move starts anew")
	if err := parseFlags(fs, args[1:], true); err != nil {
		return err
	}
	nc, err := bus.Connect(*natsURL, "hap-models")
	if err != nil {
		return fmt.Errorf("%w (is the platform running? `hap serve`)", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	reg, err := registry.Open(ctx, js, registry.DefaultConfig())
	if err != nil {
		return err
	}
	switch sub {
	case "ls":
		vs, err := reg.List(ctx, *name)
		if err != nil {
			return err
		}
		aliases, err := reg.Aliases(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "model\tversion\tstatus\taliases\tsize\tsha256\tregistered")
		for _, v := range vs {
			var as []string
			for _, a := range aliases {
				if a.Name == v.Name && a.Version == v.Version {
					as = append(as, a.Alias)
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%.12s\t%s\n", v.Name, v.Version, v.Status, strings.Join(as, ","), v.Size, v.SHA256, v.RegisteredAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "register":
		if *file == "" {
			return fmt.Errorf("%w: -file is required", errUsage)
		}
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		md, err := modelMetadata(data)
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		n := *name
		if n == "" {
			n = strings.TrimSuffix(filepath.Base(*file), filepath.Ext(*file))
		}
		mdJSON, _ := json.Marshal(md)
		mv, err := reg.Register(ctx, n, data, mdJSON)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "registered %s (release %s, threshold %.4g, sha256 %.12s)\n", mv, md.Version, md.Threshold, mv.SHA256)
		return nil
	case "alias":
		if *alias == "" || *uri == "" {
			return fmt.Errorf("%w: -alias and -model are required", errUsage)
		}
		mv, err := resolveModel(ctx, reg, *uri)
		if err != nil {
			return err
		}
		if strings.TrimSpace(*by) == "" {
			return fmt.Errorf("%w: -by is required (who moves the alias)", errUsage)
		}
		if err := reg.SetAlias(ctx, *alias, mv.Name, mv.Version, *by); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "alias %s -> %s\n", *alias, mv)
		kv, err := router.OpenExperiments(ctx, js, 1)
		if err != nil {
			return err
		}
		exp, err := router.StartEpoch(ctx, kv, *experiment, *by, fmt.Sprintf("alias %s moved to %s", *alias, mv))
		switch {
		case errors.Is(err, router.ErrExperimentNotFound):
			fmt.Fprintf(stdout, "(no experiment %s yet: nothing to restart)\n", *experiment)
		case err != nil:
			return fmt.Errorf("alias moved, but the experiment epoch was not restarted (run `hap rollout start`): %w", err)
		default:
			fmt.Fprintf(stdout, "experiment %s: epoch %d starts (the decision engine tests the new pair on new data only)\n", exp.Name, exp.Epoch)
		}
		return nil
	case "archive":
		mv, err := resolveModel(ctx, reg, *uri)
		if err != nil {
			return err
		}
		if err := reg.Archive(ctx, mv.Name, mv.Version); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "archived %s (its bytes stay in the object store)\n", mv)
		return nil
	case "describe":
		mv, err := resolveModel(ctx, reg, *uri)
		if err != nil {
			return err
		}
		aliases, err := reg.Aliases(ctx)
		if err != nil {
			return err
		}
		var as []string
		for _, a := range aliases {
			if a.Name == mv.Name && a.Version == mv.Version {
				as = append(as, a.Alias)
			}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			registry.ModelVersion
			Aliases []string `json:"aliases"`
		}{mv, as})
	case "resolve":
		target := *uri
		if target == "" && fs.NArg() > 0 {
			target = fs.Arg(0)
		}
		mv, err := resolveModel(ctx, reg, target)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(mv)
	case "rethreshold":
		if !(*threshold > 0 && *threshold < 1) {
			return fmt.Errorf("%w: -threshold %v: must be in (0, 1)", errUsage, *threshold)
		}
		mv, err := resolveModel(ctx, reg, *uri)
		if err != nil {
			return err
		}
		data, err := reg.Fetch(ctx, mv)
		if err != nil {
			return err
		}
		md, err := modelMetadata(data)
		if err != nil {
			return err
		}
		old := md.Threshold
		md.Threshold = *threshold
		md.ThresholdRule = fmt.Sprintf("set by %s from %.4g (was: %s)", *by, old, md.ThresholdRule)
		md.Version += "-t" + strconv.FormatFloat(*threshold, 'f', -1, 64)
		out, err := model.WithMetadata(data, md)
		if err != nil {
			return err
		}
		mdJSON, _ := json.Marshal(md)
		nv, err := reg.Register(ctx, mv.Name, out, mdJSON)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "registered %s: %s with threshold %.4g (was %.4g); point an alias at it to serve it\n", nv, mv, *threshold, old)
		return nil
	}
	fmt.Fprintln(stderr, modelsUsage)
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
}

// modelMetadata reads and validates the hap.metadata of an ONNX model and
// checks that the model loads and runs on a sample input of its declared
// shape (a corrupt or mismatched file is rejected with the reason).
func modelMetadata(data []byte) (model.Metadata, error) {
	lib, err := onnxrt.LibraryPath()
	if err != nil {
		return model.Metadata{}, err
	}
	if err := onnxrt.Init(lib); err != nil {
		return model.Metadata{}, err
	}
	m, err := onnxrt.Load(data, onnxrt.Options{})
	if err != nil {
		return model.Metadata{}, err
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := m.PredictOne(ctx, make([]float32, m.ItemSize()))
	if err != nil {
		return model.Metadata{}, fmt.Errorf("model loads but does not run on a %d-value sample input: %w", m.ItemSize(), err)
	}
	if !(p >= 0 && p <= 1) {
		return model.Metadata{}, fmt.Errorf("model runs but returns %v for a sample input: not a probability", p)
	}
	return m.Metadata(), nil
}

// resolveModel finds the version a model URI names:
// models:/NAME/VERSION, models:/NAME@ALIAS, NAME@VERSION or an alias name.
func resolveModel(ctx context.Context, reg *registry.Registry, uri string) (registry.ModelVersion, error) {
	if uri == "" {
		return registry.ModelVersion{}, fmt.Errorf("%w: a model URI is required (-model)", errUsage)
	}
	s := strings.TrimPrefix(uri, "models:/")
	if name, alias, ok := strings.Cut(s, "@"); ok && strings.HasPrefix(uri, "models:/") {
		mv, err := reg.Resolve(ctx, alias)
		if err != nil {
			return registry.ModelVersion{}, err
		}
		if name != "" && name != mv.Name && name != "pneumonia" {
			return registry.ModelVersion{}, fmt.Errorf("%s: alias %s points at %s, not at a version of %s", uri, alias, mv, name)
		}
		return mv, nil
	}
	sep := "/"
	if !strings.HasPrefix(uri, "models:/") {
		sep = "@"
	}
	name, ver, ok := strings.Cut(s, sep)
	if !ok {
		return reg.Resolve(ctx, s) // a bare alias
	}
	v, err := strconv.Atoi(ver)
	if err != nil || v < 1 {
		return registry.ModelVersion{}, fmt.Errorf("%w: %s: version %q must be a positive number", errUsage, uri, ver)
	}
	return reg.Get(ctx, name, v)
}
