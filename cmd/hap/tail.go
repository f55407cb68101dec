package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
)

// runTail implements "hap tail metrics|decisions": follow the metrics
// snapshots or the decisions of an experiment over NATS, one line each.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = `usage: hap tail metrics|decisions [-experiment NAME] [-n N] [-nats URL] [-json] [-all] [-timeout D]

Follows the METRICS stream (the evaluator's snapshot of each experiment,
metrics.<experiment>.experiment) or the DECISIONS stream (the rollout controller's
audit log, decisions.<experiment>) with an ordered consumer: first the latest
message of each subject, then every new one, one line each (the JSON event with
-json). Runs until interrupted, or until N messages with -n (exit 1 if the
timeout or an interrupt comes first).`
	if len(args) == 0 || (args[0] != "metrics" && args[0] != "decisions") {
		fmt.Fprintln(stderr, usage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: want metrics or decisions", errUsage)
	}
	what := args[0]
	fs := flag.NewFlagSet("tail "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", envOr("NATS_URL", nats.DefaultURL), "NATS server `url` (env NATS_URL)")
	expName := fs.String("experiment", "pneumonia", "experiment `name` (* for every experiment)")
	n := fs.Int("n", 0, "stop after `N` messages (0: until interrupted)")
	asJSON := fs.Bool("json", false, "print each event as one line of JSON")
	all := fs.Bool("all", false, "replay every message the stream keeps before following (default: the latest per subject)")
	timeout := fs.Duration("timeout", 0, "give up after this `duration` (0: none)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:], false); err != nil {
		return err
	}
	if *n < 0 || *timeout < 0 {
		return fmt.Errorf("%w: -n and -timeout must not be negative", errUsage)
	}
	stream, subject := proto.StreamMetrics, proto.MetricsExperimentsAll
	if what == "decisions" {
		stream, subject = proto.StreamDecisions, proto.DecisionsAll
	}
	if *expName != "*" {
		if err := proto.ValidToken(*expName); err != nil {
			return fmt.Errorf("%w: -experiment %q: %v", errUsage, *expName, err)
		}
		subject = proto.MetricsExperimentSubject(*expName)
		if what == "decisions" {
			subject = proto.DecisionSubject(*expName)
		}
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	nc, err := bus.Connect(*natsURL, "hap-tail")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	policy := jetstream.DeliverLastPerSubjectPolicy
	if *all {
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: policy})
	if err != nil {
		return fmt.Errorf("follow %s on stream %s: %w", subject, stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("follow %s on stream %s: %w", subject, stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	print := printMetricsLine
	if what == "decisions" {
		print = printDecisionLine
	}
	for got := 0; *n == 0 || got < *n; {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return fmt.Errorf("follow %s: %w", subject, err)
			}
			if *n > 0 {
				return fmt.Errorf("%d of %d %s messages before %v", got, *n, what, context.Cause(ctx))
			}
			return nil
		}
		if *asJSON {
			var line bytes.Buffer
			if err := json.Compact(&line, m.Data()); err != nil {
				fmt.Fprintf(stderr, "hap tail: %s: invalid JSON skipped: %v\n", m.Subject(), err)
				continue
			}
			line.WriteByte('\n')
			if _, err := stdout.Write(line.Bytes()); err != nil {
				return err
			}
		} else if err := print(stdout, m.Data()); err != nil {
			fmt.Fprintf(stderr, "hap tail: %s: skipped: %v\n", m.Subject(), err)
			continue
		}
		got++
	}
	return nil
}

// printMetricsLine prints a MetricsSnapshot as one line: time, experiment,
// mode and split, then per arm its model, counts and metrics (key=value).
func printMetricsLine(w io.Writer, data []byte) error {
	var s proto.MetricsSnapshot
	if err := proto.Decode(data, &s); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s mode=%s split=%s", s.GeneratedAt.UTC().Format(time.RFC3339), s.Experiment, s.Mode, s.Split)
	for _, m := range s.Models {
		fmt.Fprintf(&b, " | %s %s@%s predictions=%d errors=%d feedback=%d accuracy=%.3f sensitivity=%.3f specificity=%.3f",
			m.Arm, m.ModelName, m.ModelVersion, m.Predictions, m.Errors, m.Feedback, m.Accuracy, m.Sensitivity, m.Specificity)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// printDecisionLine prints a DecisionEvent as one line: time, experiment,
// epoch, action and outcome, split change, test result, actor and reason.
func printDecisionLine(w io.Writer, data []byte) error {
	var d proto.DecisionEvent
	if err := proto.Decode(data, &d); err != nil {
		return err
	}
	outcome := d.Outcome
	if outcome == "" {
		outcome = proto.OutcomeNone
	}
	_, err := fmt.Fprintf(w, "%s %s epoch=%d %s outcome=%s split=%s->%s p=%.4g labelled=%d/%d by=%s: %s\n",
		d.DecidedAt.UTC().Format(time.RFC3339), d.Experiment, d.Epoch, d.Action, outcome, d.SplitBefore, d.SplitAfter,
		d.PValue, d.ChampionN, d.ChallengerN, d.Actor, d.Reason)
	return err
}
