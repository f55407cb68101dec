package client

import (
	"context"
	"errors"
	"time"

	"github.com/healthcare-ai/platform/httpapi/problem"
	fbclient "github.com/healthcare-ai/platform/services/feedback/client"
)

// FeedbackOption sets an optional field of a feedback submission (the
// options of services/feedback/client).
type FeedbackOption = fbclient.Option

// FeedbackReceipt is the answer to a recorded feedback.
type FeedbackReceipt = fbclient.Receipt

// RadiologistID sets who gave the feedback.
func RadiologistID(id string) FeedbackOption { return fbclient.RadiologistID(id) }

// Confidence sets the radiologist's confidence, 0..1.
func Confidence(c float64) FeedbackOption { return fbclient.Confidence(c) }

// Notes sets free-text notes.
func Notes(n string) FeedbackOption { return fbclient.Notes(n) }

// GroundTruth states the ground truth (NORMAL or PNEUMONIA) directly; pass an
// empty feedbackType to Feedback to use it alone.
func GroundTruth(label string) FeedbackOption { return fbclient.GroundTruth(label) }

// FeedbackID sets an explicit idempotency key instead of the derived one.
func FeedbackID(id string) FeedbackOption { return fbclient.FeedbackID(id) }

// Source names the submitting system ("adjudication" resolves conflicting
// feedback under the evaluator's adjudicate policy).
func Source(src string) FeedbackOption { return fbclient.Source(src) }

// Feedback records a radiologist's verdict on a prediction (POST
// /v1/feedback) through services/feedback/client: feedbackType is one of
// true-positive, false-positive, true-negative, false-negative (or empty with
// GroundTruth). A rejected submission is a *problem.Problem naming the field.
// The server derives the same feedback_id for the same submission, so a
// retry counts once: Feedback is retried after transport errors and
// temporary answers (5xx, 429).
func (c *Client) Feedback(ctx context.Context, requestID, feedbackType string, opts ...FeedbackOption) (*FeedbackReceipt, error) {
	for attempt := 1; ; attempt++ {
		rec, err := c.fb.SubmitFeedback(ctx, requestID, feedbackType, opts...)
		if err == nil {
			return rec, nil
		}
		retry := ctx.Err() == nil
		var fp *fbclient.Problem
		if errors.As(err, &fp) {
			err = &problem.Problem{Type: fp.Type, Title: fp.Title, Status: fp.Status, Detail: fp.Detail, Field: fp.Field, RequestID: fp.RequestID}
			retry = fp.Temporary()
		}
		wait := c.retry.Backoff << (attempt - 1)
		if !retry || attempt >= c.retry.Attempts || wait > c.retry.MaxWait || !sleep(ctx, wait) {
			return nil, err
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
