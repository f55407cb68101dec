// Command hap is the Healthcare AI Platform command line: data generation,
// tensor export for training, the all-in-one launcher and operator commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of hap. run receives the arguments after the
// subcommand name and returns an error that main prints and turns into exit code 1
// (2 for usage errors, see errUsage).
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// parseFlags parses args with fs (flag.ContinueOnError): -h gives
// flag.ErrHelp (exit 0), a bad command line an errUsage error (exit 2).
// Positional arguments are refused unless positional is set.
func parseFlags(fs *flag.FlagSet, args []string, positional bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !positional && fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// errUsage marks an error caused by bad command-line arguments (exit code 2).
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"generate": {"generate synthetic chest X-rays in the Kaggle folder layout", runGenerate},
		"tensors":  {"export preprocessed tensors (.npy) of a data set for training", runTensors},
		"dataset":  {"report counts per split and class of a data set folder, rejecting unreadable files", runDataset},
		"demo":     {"the main job: synthetic X-rays through the whole platform, then the per-model metrics", runDemo},
		"serve":    {"run the platform on the embedded default until interrupted", runServe},
		"models":   {"the model registry: list, register, alias (models:/name@champion), archive, rethreshold", runModels},
		"monitor":  {"print the monitor report of a running platform: traffic, coverage, metrics with CIs, test, decision, stages", runMonitor},
		"rollout":  {"status of the decision engine; approve, reject or start a rollout", runRollout},
		"auth":     {"users and bearer tokens of the HTTP API: add a user, hash a token, check a users file", runAuth},
		"sql":      {"query the lakehouse tables with SQL (DuckDB): reports, views, your own queries", runSQL},
		"tables":   {"list or compact the lakehouse tables (Parquet parts, checkpoints)", runTables},

		// Clients of a running platform's HTTP API and NATS streams (package client).
		"predict":       {"predict images (JPEG, PNG, DICOM; files or folders) through POST /v1/predict, one line each", runPredict},
		"batch-predict": {"predict a folder of images with N concurrent requests into a Parquet or CSV file", runBatchPredict},
		"feedback":      {"record a radiologist's verdict on a prediction (POST /v1/feedback)", runFeedback},
		"tail":          {"follow the metrics snapshots or the decisions of an experiment over NATS", runTail},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs hap with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hap: unknown command %q (run 'hap help')\n", args[0])
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "hap %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: hap <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'hap <command> -h' for the flags of a command.")
}
