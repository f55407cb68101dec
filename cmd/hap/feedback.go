package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/healthcare-ai/platform/client"
	"github.com/healthcare-ai/platform/proto"
)

// runFeedback implements "hap feedback": a radiologist's verdict on one
// prediction, through POST /v1/feedback.
func runFeedback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("feedback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	requestID := fs.String("request", "", "`request_id` of the prediction (required)")
	typ := fs.String("type", "", "feedback `type`: "+strings.Join(proto.FeedbackTypes, ", ")+" (this or -truth is required)")
	truth := fs.String("truth", "", "ground `label`: NORMAL or PNEUMONIA")
	radiologist := fs.String("radiologist", "", "radiologist `id` (required without -token; with one, the token's user is recorded)")
	var confidence *float64
	fs.Func("confidence", "the radiologist's confidence, 0..1", func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || v > 1 {
			return fmt.Errorf("%q: must be a number from 0 to 1", s)
		}
		confidence = &v
		return nil
	})
	notes := fs.String("notes", "", "free-text `notes`")
	feedbackID := fs.String("feedback-id", "", "explicit idempotency `key` (default: derived from request, radiologist and verdict, so a repeat counts once)")
	source := fs.String("source", "", "submitting `system` (adjudication resolves conflicting feedback under the adjudicate policy)")
	asJSON := fs.Bool("json", false, "print the receipt as JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: hap feedback -request ID (-type true-positive|false-positive|true-negative|false-negative | -truth NORMAL|PNEUMONIA) (-radiologist ID | -token TOKEN) [flags]

Records ground truth for a served prediction. true-positive and false-negative mean
the patient has pneumonia; false-positive and true-negative mean normal. Sending
the same feedback again is safe: it counts once.`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	*typ = strings.ToLower(strings.TrimSpace(*typ))
	*truth = strings.ToUpper(strings.TrimSpace(*truth))
	switch {
	case strings.TrimSpace(*requestID) == "":
		return fmt.Errorf("%w: -request is required", errUsage)
	case *typ == "" && *truth == "":
		return fmt.Errorf("%w: -type or -truth is required", errUsage)
	case strings.TrimSpace(*radiologist) == "" && *api.token == "":
		return fmt.Errorf("%w: -radiologist is required (or sign in with -token)", errUsage)
	}
	if *typ != "" {
		gt, err := proto.GroundTruthOf(*typ)
		if err != nil {
			return fmt.Errorf("%w: -type: %v", errUsage, err)
		}
		if *truth != "" && *truth != gt {
			return fmt.Errorf("%w: -truth %s contradicts -type %s (which means %s)", errUsage, *truth, *typ, gt)
		}
	} else if !proto.ValidLabel(*truth) {
		return fmt.Errorf("%w: -truth %q: must be %s or %s", errUsage, *truth, proto.LabelNormal, proto.LabelPneumonia)
	}
	c, err := api.client()
	if err != nil {
		return fmt.Errorf("%w: -url: %v", errUsage, err)
	}
	opts := []client.FeedbackOption{client.RadiologistID(*radiologist)}
	if *truth != "" {
		opts = append(opts, client.GroundTruth(*truth))
	}
	if confidence != nil {
		opts = append(opts, client.Confidence(*confidence))
	}
	if *notes != "" {
		opts = append(opts, client.Notes(*notes))
	}
	if *feedbackID != "" {
		opts = append(opts, client.FeedbackID(*feedbackID))
	}
	if *source != "" {
		opts = append(opts, client.Source(*source))
	}
	rec, err := c.Feedback(ctx, *requestID, *typ, opts...)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rec)
	}
	dup := ""
	if rec.Duplicate {
		dup = " (already recorded: counted once)"
	}
	_, err = fmt.Fprintf(stdout, "recorded feedback %s for request %s: ground truth %s%s\n", rec.FeedbackID, rec.RequestID, rec.GroundTruth, dup)
	return err
}
