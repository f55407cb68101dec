package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/client"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/xray/synth"
)

// startPlatform runs the whole platform in the test process (embedded NATS
// on a free port, HTTP on a free port, the committed models) and returns a
// client of it.
func startPlatform(t *testing.T) (*platform.Platform, *client.Client) {
	t.Helper()
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.NATSPort = -1
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ModelsDir = "../models"
	cfg.SyncAlways = false
	cfg.TablesOff = true
	cfg.PatientSalt = "test-salt-0123456789abcdef"
	p, err := platform.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(t.Context()) })
	c, err := client.New("http://" + p.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// generate writes n NORMAL and n PNEUMONIA test images, as JPEG and DICOM,
// small enough to keep the test quick.
func generate(t *testing.T, n int) string {
	t.Helper()
	o := synth.DefaultOptions()
	o.Train, o.Val = synth.Counts{}, synth.Counts{}
	o.Test = synth.Counts{Normal: n, Pneumonia: n}
	o.MinSize, o.MaxSize = 520, 700
	o.Seed = 7
	o.DICOM = synth.DICOMAlso
	res, err := synth.Generate(t.Context(), t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Root
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstFile(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return m[0]
}

func checkPrediction(t *testing.T, p *client.Prediction) {
	t.Helper()
	if p.RequestID == "" || p.ImageID == "" || p.ModelName == "" || p.ModelVersion == "" || !proto.ValidArm(p.Arm) ||
		!proto.ValidLabel(p.Label) || p.Probability < 0 || p.Probability > 1 || p.Threshold <= 0 || p.Threshold >= 1 || p.LatencyMS <= 0 {
		t.Fatalf("prediction %+v", p)
	}
	want := proto.LabelNormal
	if p.Probability >= p.Threshold {
		want = proto.LabelPneumonia
	}
	if p.Label != want {
		t.Errorf("label %s with probability %.3f and threshold %.3f", p.Label, p.Probability, p.Threshold)
	}
}

// wantProblem checks that err is a *problem.Problem of the type and status.
func wantProblem(t *testing.T, err error, typ string, status int) *problem.Problem {
	t.Helper()
	var p *problem.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T) is not a *problem.Problem", err, err)
	}
	if p.Type != typ || p.Status != status {
		t.Fatalf("problem %+v, want type %s status %d", p, typ, status)
	}
	return p
}

// TestClient runs every call of the client against the platform in the
// test process.
func TestClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the platform")
	}
	root := generate(t, 3)
	_, c := startPlatform(t)
	ctx := t.Context()
	jpegFile := firstFile(t, filepath.Join(root, "test", "PNEUMONIA", "*.jpeg"))

	t.Run("PredictJPEG", func(t *testing.T) {
		pr, err := c.Predict(ctx, readFile(t, jpegFile), client.FileName("test/PNEUMONIA/"+filepath.Base(jpegFile)), client.ClientRequestID("cli-1"))
		if err != nil {
			t.Fatal(err)
		}
		checkPrediction(t, pr)
		if pr.ClientRequestID != "cli-1" {
			t.Errorf("client_request_id %q", pr.ClientRequestID)
		}
		// The evaluator joins the result under the same request id.
		bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			v, err := c.Request(ctx, pr.RequestID)
			if err != nil {
				return err
			}
			if r, ok := v.Results[pr.Arm]; !ok || r.Label != pr.Label || !r.Served {
				return fmt.Errorf("request state %+v", v.RequestState)
			}
			return nil
		})
	})

	t.Run("PredictDICOM", func(t *testing.T) {
		dcm := readFile(t, firstFile(t, filepath.Join(root, "test", "NORMAL", "*.dcm")))
		if got := client.DetectMediaType(dcm, ""); got != client.MediaTypeDICOM {
			t.Fatalf("media type %s", got)
		}
		for _, opts := range [][]client.ImageOption{{client.FileName("x.dcm")}, {client.RawBody()}} {
			pr, err := c.Predict(ctx, dcm, opts...)
			if err != nil {
				t.Fatal(err)
			}
			checkPrediction(t, pr)
		}
	})

	t.Run("PredictPNGRaw", func(t *testing.T) {
		img, err := jpeg.Decode(bytes.NewReader(readFile(t, jpegFile)))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		pr, err := c.Predict(ctx, buf.Bytes(), client.RawBody(), client.ClientRequestID("raw-png"))
		if err != nil {
			t.Fatal(err)
		}
		checkPrediction(t, pr)
		if pr.ClientRequestID != "raw-png" {
			t.Errorf("client_request_id %q (header not sent?)", pr.ClientRequestID)
		}
	})

	t.Run("Problems", func(t *testing.T) {
		_, err := c.Predict(ctx, []byte("not an image at all"), client.FileName("notes.jpeg"))
		if pr := wantProblem(t, err, client.ProblemUnsupportedFormat, http.StatusUnsupportedMediaType); pr.RequestID == "" || pr.Detail == "" {
			t.Errorf("problem %+v: want the request id and a detail", pr)
		}
		truncated := readFile(t, jpegFile)
		truncated = truncated[:len(truncated)/3]
		_, err = c.Predict(ctx, truncated, client.FileName("truncated.jpeg"))
		wantProblem(t, err, client.ProblemUndecodable, http.StatusUnprocessableEntity)
		_, err = c.Upload(ctx, nil, client.RawBody(), client.ContentType(client.MediaTypeJPEG))
		wantProblem(t, err, client.ProblemMissing, http.StatusBadRequest)

		_, err = c.Metrics(ctx, "no-such-experiment")
		wantProblem(t, err, client.ProblemNotFound, http.StatusNotFound)
		_, err = c.Request(ctx, "no-such-request")
		wantProblem(t, err, client.ProblemNotFound, http.StatusNotFound)
		_, err = c.Rollout(ctx, "other")
		wantProblem(t, err, problem.Type("unknown-experiment"), http.StatusNotFound)
		_, err = c.Approve(ctx, "pneumonia", "dr.lead", "test")
		wantProblem(t, err, problem.Type("nothing-pending"), http.StatusConflict)
		_, err = c.Feedback(ctx, "some-request", "maybe", client.RadiologistID("DR001"))
		if pr := wantProblem(t, err, client.ProblemInvalidRequest, http.StatusBadRequest); pr.Field != "feedback_type" {
			t.Errorf("problem field %q, want feedback_type", pr.Field)
		}
	})

	t.Run("Upload", func(t *testing.T) {
		rec, err := c.Upload(ctx, readFile(t, jpegFile), client.FileName("upload.jpeg"))
		if err != nil {
			t.Fatal(err)
		}
		if rec.RequestID == "" || rec.ImageID == "" || rec.Status != "accepted" {
			t.Fatalf("receipt %+v", rec)
		}
		bustest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
			v, err := c.Request(ctx, rec.RequestID)
			if err != nil {
				return err
			}
			if len(v.Results) == 0 {
				return errors.New("no result yet")
			}
			return nil
		})
	})

	t.Run("FeedbackThenMetrics", func(t *testing.T) {
		pr, err := c.Predict(ctx, readFile(t, jpegFile))
		if err != nil {
			t.Fatal(err)
		}
		before, err := c.Metrics(ctx, "pneumonia")
		if err != nil {
			t.Fatal(err)
		}
		feedbackOf := func(s *proto.MetricsSnapshot) int {
			for _, m := range s.Models {
				if m.Arm == pr.Arm {
					return m.Feedback
				}
			}
			return 0
		}
		typ := "true-positive" // the image is from the PNEUMONIA folder
		if pr.Label == proto.LabelNormal {
			typ = "false-negative"
		}
		rec, err := c.Feedback(ctx, pr.RequestID, typ, client.RadiologistID("DR001"), client.Confidence(0.9), client.Notes("client test"))
		if err != nil {
			t.Fatal(err)
		}
		if rec.RequestID != pr.RequestID || rec.GroundTruth != proto.LabelPneumonia || rec.Duplicate {
			t.Fatalf("receipt %+v", rec)
		}
		again, err := c.Feedback(ctx, pr.RequestID, typ, client.RadiologistID("DR001"), client.Confidence(0.9), client.Notes("client test"))
		if err != nil || !again.Duplicate || again.FeedbackID != rec.FeedbackID {
			t.Fatalf("repeat: %+v, %v", again, err)
		}
		bustest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
			snap, err := c.Metrics(ctx, "pneumonia")
			if err != nil {
				return err
			}
			if got, want := feedbackOf(snap), feedbackOf(before)+1; got != want {
				return fmt.Errorf("arm %s: %d labelled predictions, want %d", pr.Arm, got, want)
			}
			v, err := c.Request(ctx, pr.RequestID)
			if err != nil {
				return err
			}
			if _, ok := v.Feedback[rec.FeedbackID]; !ok {
				return fmt.Errorf("request state lacks feedback %s", rec.FeedbackID)
			}
			return nil
		})
		all, err := c.AllMetrics(ctx)
		if err != nil || len(all.Experiments) != 1 || all.Experiments[0].Experiment != "pneumonia" {
			t.Fatalf("all metrics: %+v, %v", all, err)
		}
	})

	t.Run("ModelsAndRollout", func(t *testing.T) {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		m, err := c.Models(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Experiment.Name != "pneumonia" || len(m.Arms) != 2 || m.Arms[0].ModelName == "" || m.Arms[1].Threshold <= 0 {
			t.Fatalf("models %+v", m)
		}
		st, err := c.Rollout(ctx, "pneumonia")
		if err != nil {
			t.Fatal(err)
		}
		if st.Experiment.Name != "pneumonia" || st.Champion == "" || st.Challenger == "" || len(st.Stages) == 0 {
			t.Fatalf("rollout status %+v", st)
		}
		exp, err := c.Start(ctx, "pneumonia", "ml.eng", "client test")
		if err != nil {
			t.Fatal(err)
		}
		if exp.Epoch <= st.Experiment.Epoch || exp.Stage != 0 {
			t.Fatalf("start: epoch %d stage %d, was epoch %d", exp.Epoch, exp.Stage, st.Experiment.Epoch)
		}
		_, err = c.Start(ctx, "pneumonia", "", "nobody")
		wantProblem(t, err, client.ProblemInvalidRequest, http.StatusBadRequest)

		// A manual rollback drops the challenger; a second one finds none.
		ev, err := c.Rollback(ctx, "pneumonia", "dr.lead", "client test: audit finding")
		if err != nil {
			t.Fatal(err)
		}
		if ev.Action != proto.ActionRollback || ev.Actor != "dr.lead" || ev.SplitAfter.Challenger != 0 {
			t.Fatalf("rollback %+v", ev)
		}
		_, err = c.Rollback(ctx, "pneumonia", "dr.lead", "again")
		wantProblem(t, err, problem.Type("no-challenger"), http.StatusConflict)
	})
}
