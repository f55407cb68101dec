package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/healthcare-ai/platform/decision"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/rollout"
)

// printMonitor prints what the seed's monitor notebook showed, for the
// current stage: traffic actual vs configured, coverage, accuracy,
// sensitivity and specificity with intervals, both confusion matrices, the
// test, its statistic and always-valid p-value, the decision and its reason,
// the stage and its history.
func printMonitor(w io.Writer, snap proto.MetricsSnapshot, st rollout.Status) {
	exp := st.Experiment
	stage := fmt.Sprintf("stage %d of %d (challenger %d%%)", exp.Stage+1, len(st.Stages), exp.Split.Challenger)
	if exp.Split.Challenger == 0 {
		stage = "no challenger under test (champion 100%)"
	}
	fmt.Fprintf(w, "Monitor: experiment %s, mode %s, rollout %s, %s, epoch %d\n", exp.Name, exp.Mode, st.RolloutMode, stage, exp.Epoch)
	fmt.Fprintf(w, "  champion = %s, challenger = %s\n\n", st.Champion, st.Challenger)
	var em *proto.EpochMetrics
	for i := range snap.Epochs {
		if snap.Epochs[i].Epoch == exp.Epoch {
			em = &snap.Epochs[i]
		}
	}
	last := st.State.Last
	if em != nil && last != nil && st.State.Epoch == exp.Epoch {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "this stage\tchampion\tchallenger\t")
		arms := map[string]proto.ModelMetrics{}
		for _, m := range em.Models {
			arms[m.Arm] = m
		}
		c, h := arms[proto.ArmChampion], arms[proto.ArmChallenger]
		fmt.Fprintf(tw, "traffic actual / configured\t%s / %s\t%s / %s\t\n", pct(c.TrafficActual), pct(c.TrafficConfigured), pct(h.TrafficActual), pct(h.TrafficConfigured))
		fmt.Fprintf(tw, "predictions, labelled (coverage)\t%d, %d (%s)\t%d, %d (%s)\t\n", c.Predictions, c.Feedback, pct(c.Coverage), h.Predictions, h.Feedback, pct(h.Coverage))
		est := func(e decision.Estimate) string { return fmt.Sprintf("%.3f [%.3f, %.3f]", e.Value, e.Lower, e.Upper) }
		fmt.Fprintf(tw, "accuracy [95%% CI]\t%s\t%s\t\n", est(last.Champion.Accuracy), est(last.Challenger.Accuracy))
		fmt.Fprintf(tw, "sensitivity\t%s\t%s\t\n", est(last.Champion.Sensitivity), est(last.Challenger.Sensitivity))
		fmt.Fprintf(tw, "specificity\t%s\t%s\t\n", est(last.Champion.Specificity), est(last.Challenger.Specificity))
		fmt.Fprintf(tw, "TP  FP\t%d  %d\t%d  %d\t\n", c.Confusion.TP, c.Confusion.FP, h.Confusion.TP, h.Confusion.FP)
		fmt.Fprintf(tw, "FN  TN\t%d  %d\t%d  %d\t\n", c.Confusion.FN, c.Confusion.TN, h.Confusion.FN, h.Confusion.TN)
		tw.Flush()
		fmt.Fprintf(w, "\n  test       %s on %s: statistic %.2f, always-valid p = %.4g\n", last.Test, last.Metric, last.Statistic, last.PValue)
		fmt.Fprintf(w, "  difference challenger - champion %+.3f [%.3f, %.3f]; sensitivity %+.3f [%.3f, %.3f]\n",
			last.Difference.Value, last.Difference.Lower, last.Difference.Upper,
			last.SensitivityDifference.Value, last.SensitivityDifference.Lower, last.SensitivityDifference.Upper)
		fmt.Fprintf(w, "  decision   %s: %s\n", last.Action, last.Reason)
		if last.Action == decision.KeepTesting && last.EstimatedSamplesNeeded > 0 {
			fmt.Fprintf(w, "             about %d more labelled cases per arm would decide if the estimates hold\n", last.EstimatedSamplesNeeded)
		}
	} else {
		fmt.Fprintln(w, "  no decision for this stage yet (no labelled predictions of its epoch)")
	}
	if p := st.State.Pending; p != nil {
		fmt.Fprintf(w, "  PENDING    %s %s -> %s recommended at %s: approve with `hap rollout approve -by NAME`\n",
			p.Action, p.SplitFrom, p.SplitTo, p.RecommendedAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w, "\nStage history (champion/challenger split):")
	if len(st.State.History) == 0 {
		fmt.Fprintln(w, "  (none yet)")
	}
	for _, c := range st.State.History {
		extra := ""
		if c.Promoted != "" {
			extra = fmt.Sprintf("; %s is the champion, %s archived", c.Promoted, c.Archived)
		}
		fmt.Fprintf(w, "  %s  %-8s %s -> %s  by %s%s\n", c.At.Format("15:04:05"), c.Action, c.SplitFrom, c.SplitTo, c.Actor, extra)
	}
}

// runMonitor implements "hap monitor": the monitor report of a running
// platform.
func runMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	expName := fs.String("experiment", "pneumonia", "experiment `name`")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	var snap proto.MetricsSnapshot
	if err := api.getJSON(ctx, "/v1/metrics/"+*expName, &snap); err != nil {
		return err
	}
	var st rollout.Status
	if err := api.getJSON(ctx, "/v1/rollout/"+*expName, &st); err != nil {
		return err
	}
	printSnapshot(stdout, snap)
	fmt.Fprintln(stdout)
	printMonitor(stdout, snap, st)
	return nil
}

// runRollout implements "hap rollout status|approve|reject|start".
func runRollout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := `usage: hap rollout status|approve|reject|start|promote|rollback [-url URL] [-experiment NAME] [-by NAME] [-reason TEXT]

  status    the engine's state: stage, last decision with its statistics, pending recommendation, history (JSON)
  approve   execute the pending recommendation (approval mode)
  reject    drop it; the engine keeps testing and does not ask again for this stage
  start     (re)start the rollout at the first stage on a new epoch (after a new challenger)
  promote   manual override: next stage now, without significance (-reason required; audited)
  rollback  manual override: challenger to 0% now (-reason required; audited)`
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: want a subcommand", errUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("rollout "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	expName := fs.String("experiment", "pneumonia", "experiment `name`")
	by := fs.String("by", os.Getenv("USER"), "who approves, rejects or starts (recorded in the audit log; with a -token, the token's user is recorded and -by must be empty or the same)")
	reason := fs.String("reason", "", "why (recorded in the audit log)")
	if err := parseFlags(fs, args[1:], true); err != nil {
		return err
	}
	base := "/v1/rollout/" + *expName
	switch sub {
	case "status":
		var st rollout.Status
		if err := api.getJSON(ctx, base, &st); err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	case "approve", "reject", "start", "promote", "rollback":
		who := *by
		if *api.token != "" && who == os.Getenv("USER") {
			who = "" // the platform records the token's user
		}
		body, _ := json.Marshal(map[string]string{"by": who, "reason": *reason})
		var out json.RawMessage
		if err := api.postJSON(ctx, base+"/"+sub, body, &out); err != nil {
			return err
		}
		var ind bytes.Buffer
		_ = json.Indent(&ind, out, "", "  ")
		fmt.Fprintln(stdout, ind.String())
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
}

func (a apiTarget) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *a.url+path, nil)
	if err != nil {
		return err
	}
	return a.doJSON(req, v)
}

func (a apiTarget) postJSON(ctx context.Context, path string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *a.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return a.doJSON(req, v)
}

func (a apiTarget) doJSON(req *http.Request, v any) error {
	if *a.token != "" {
		req.Header.Set("Authorization", "Bearer "+*a.token)
	}
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is the platform running? `hap serve`)", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(data, &p)
		if p.Detail == "" {
			p.Detail = strings.TrimSpace(string(data))
		}
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, resp.Status, p.Detail)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", req.Method, req.URL, err)
	}
	return nil
}
