package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/auth"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/xray/synth"
)

// Tokens of the test users.
const (
	tokenAda  = "test-token-ada-0123456789"
	tokenPACS = "test-token-pacs-0123456789"
)

// browserTools returns node, chromium and the playwright-core folder, or
// why the browser tests cannot run (installed by scripts/setup.sh).
func browserTools(t *testing.T) (node, chromium, modules string) {
	t.Helper()
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install -y npm)")
	}
	chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, "/usr/bin/chromium (apt-get install -y chromium)")
	}
	modules, _ = filepath.Abs("../.cache/node/node_modules")
	if _, err := os.Stat(filepath.Join(modules, "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core in .cache/node (scripts/fetch-playwright.sh)")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ") + ": run scripts/setup.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, chromium, modules
}

func hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

type labelled struct {
	RequestID   string `json:"request_id"`
	GroundTruth string `json:"ground_truth"`
}

// TestBrowser starts the platform with authentication, predicts a few
// synthetic X-rays and answers some of them, then runs testdata/browser.mjs
// (playwright-core driving Debian's chromium): the dashboard shows the
// numbers of GET /v1/metrics and follows new feedback without a reload; the
// review page lists the unanswered predictions and a double-clicked reading
// counts once. Screenshots go to var/artifacts/browser/.
func TestBrowser(t *testing.T) {
	node, chromium, modules := browserTools(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	users, err := auth.New([]auth.User{
		{ID: "ada", Name: "Dr. Test Ada", Roles: []auth.Role{auth.RoleRadiologist, auth.RoleApprover}, TokenSHA256: hash(tokenAda)},
		{ID: "pacs", Name: "PACS", Roles: []auth.Role{auth.RoleIngest}, TokenSHA256: hash(tokenPACS)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.NATSPort = -1
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ModelsDir = "../models"
	cfg.SyncAlways = false
	cfg.PatientSalt = "test-salt-0123456789abcdef"
	cfg.TablesOff = true
	cfg.Auth = users
	p, err := platform.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	base := "http://" + p.HTTPAddr().String()

	// Real data: synthetic X-rays predicted by the real models.
	o := synth.DefaultOptions()
	o.Train, o.Val = synth.Counts{}, synth.Counts{}
	o.Test = synth.Counts{Normal: 8, Pneumonia: 8}
	o.MinSize, o.MaxSize = 520, 700
	o.Seed = 7
	gen, err := synth.Generate(ctx, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	var cases []labelled
	for _, class := range []string{"NORMAL", "PNEUMONIA"} {
		files, _ := filepath.Glob(filepath.Join(gen.Root, "test", class, "*"))
		for _, f := range files {
			img, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var pr struct {
				RequestID string `json:"request_id"`
			}
			call(t, ctx, http.MethodPost, base+"/v1/predict", tokenPACS, "image/jpeg", img, http.StatusOK, &pr)
			cases = append(cases, labelled{pr.RequestID, class})
		}
	}
	if len(cases) != 16 {
		t.Fatalf("%d images predicted, want 16", len(cases))
	}
	// Feedback on 6 of them now (3 of each class), 2 more while the
	// dashboard is open; 8 stay without feedback for the review queue.
	answered := append(append([]labelled{}, cases[0:3]...), cases[8:11]...)
	more, _ := json.Marshal([]labelled{cases[3], cases[11]})
	for _, c := range answered {
		body, _ := json.Marshal(map[string]any{"request_id": c.RequestID, "ground_truth": c.GroundTruth, "confidence": 0.9, "source": "browser-test"})
		call(t, ctx, http.MethodPost, base+"/v1/feedback", tokenAda, "application/json", body, http.StatusAccepted, nil)
	}
	bustest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		var snap struct {
			Models []struct{ Predictions, Feedback int }
		}
		call(t, ctx, http.MethodGet, base+"/v1/metrics/pneumonia", tokenAda, "", nil, 0, &snap)
		n, fb := 0, 0
		for _, m := range snap.Models {
			n, fb = n+m.Predictions, fb+m.Feedback
		}
		if n != 16 || fb != 6 {
			return fmt.Errorf("metrics: %d predictions, %d feedback; want 16, 6", n, fb)
		}
		return nil
	})

	// Two inputs the ingestor rejects (xray.rejected): the dashboard counts them by reason.
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/images", strings.NewReader("not an image"))
		req.Header.Set("Authorization", "Bearer "+tokenPACS)
		req.Header.Set("Content-Type", "image/jpeg")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 4 {
			t.Fatalf("POST /v1/images with a broken JPEG: %s, want a 4xx rejection", resp.Status)
		}
	}

	// A drift report and a firing alert, as the drift monitor publishes them
	// (synthetic values): the dashboard shows the signals and the banner.
	now := time.Now().UTC()
	publishJSON(t, p, proto.MetricsDriftSubject("pneumonia"), proto.DriftReport{
		ReportID: "browser-test-1", Experiment: "pneumonia", Arm: proto.ArmChampion, ModelName: "pneumonia-simplecnn", ModelVersion: "1",
		Level: proto.DriftLevelAlert, Window: 9, InputWindow: 9, EvaluatedAt: now,
		Signals: []proto.DriftSignal{{Name: proto.SignalInputPSI, Level: proto.DriftLevelAlert, Value: 0.31, Warn: 0.1, Alert: 0.25, N: 9}},
	})
	publishJSON(t, p, proto.DriftAlertSubject("pneumonia"), proto.DriftAlert{
		AlertID: "browser-test-a1", Experiment: "pneumonia", Arm: proto.ArmChampion, ModelName: "pneumonia-simplecnn", ModelVersion: "1",
		Signal: proto.SignalInputPSI, Status: proto.AlertFiring, Value: 0.31, Threshold: 0.25, Window: 9,
		Reason: "browser test: synthetic alert", FiringSince: now, At: now,
	})

	artifacts, _ := filepath.Abs("../var/artifacts/browser")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, "testdata/browser.mjs")
	cmd.Env = append(os.Environ(),
		"HAP_BASE="+base, "HAP_TOKEN="+tokenAda, "HAP_EXPERIMENT=pneumonia", "HAP_MORE_FEEDBACK="+string(more),
		"HAP_ARTIFACTS="+artifacts, "HAP_NODE_MODULES="+modules, "HAP_CHROMIUM="+chromium)
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("browser.mjs (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	t.Logf("screenshots in %s", artifacts)
	if err != nil {
		t.Fatalf("browser.mjs: %v", err)
	}
}

func publishJSON(t *testing.T, p *platform.Platform, subject string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Conn.Publish(subject, b); err != nil {
		t.Fatal(err)
	}
}

// call sends one request with a bearer token and decodes the JSON answer
// into out; want 0 accepts any 2xx.
func call(t *testing.T, ctx context.Context, method, url, token, ctype string, body []byte, want int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if (want != 0 && resp.StatusCode != want) || (want == 0 && resp.StatusCode/100 != 2) {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}
