package platform_test

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
)

// brighten returns the JPEG of an image with every gray level raised by
// delta (clamped at 255): an over-exposed acquisition.
func brighten(t *testing.T, data []byte, delta int) []byte {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			g.Pix[g.PixOffset(x, y)] = uint8(min(int(r>>8)+delta, 255))
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, g, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestDriftAlertEndToEnd sends generated X-rays through the whole platform
// (both arms score every image: shadow mode) and checks that the drift
// monitor reports them without alerting, then that the same images
// brightened raise a DriftAlert on alerts.pneumonia.drift.
func TestDriftAlertEndToEnd(t *testing.T) {
	const perClass = 20
	root := dataset(t, perClass)
	var files []string
	if err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".jpeg") {
			files = append(files, path)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(files) != 2*perClass {
		t.Fatalf("%d images, want %d", len(files), 2*perClass)
	}

	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.NATSPort = -1
	cfg.HTTPAddr = ""
	cfg.ModelsDir = modelsDir
	cfg.SyncAlways = false
	cfg.PatientSalt = "test-salt-0123456789abcdef"
	cfg.TablesOff, cfg.RolloutOff = true, true
	cfg.Router.DefaultMode = proto.ModeShadow
	cfg.Drift.Rule.Window, cfg.Drift.Rule.MinWindow = 2*perClass, 2*perClass-5
	cfg.Drift.EvalEvery, cfg.Drift.EvalInterval = 10, 200*time.Millisecond
	p, err := platform.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(t.Context())

	var mu sync.Mutex
	var alerts []proto.DriftAlert
	last := map[string]proto.DriftReport{} // by arm
	for subj, fn := range map[string]func(*nats.Msg){
		proto.DriftAlertSubject("pneumonia"): func(m *nats.Msg) {
			var a proto.DriftAlert
			if err := proto.Decode(m.Data, &a); err != nil {
				t.Errorf("alert: %v", err)
			}
			mu.Lock()
			alerts = append(alerts, a)
			mu.Unlock()
		},
		proto.MetricsDriftSubject("pneumonia"): func(m *nats.Msg) {
			var r proto.DriftReport
			if err := proto.Decode(m.Data, &r); err != nil {
				t.Errorf("report: %v", err)
			}
			mu.Lock()
			last[r.Arm] = r
			mu.Unlock()
		},
	} {
		sub, err := p.Conn.Subscribe(subj, fn)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	ingest := func(prefix string, delta int) {
		t.Helper()
		for i, f := range files {
			data := mustRead(t, f)
			if delta != 0 {
				data = brighten(t, data, delta)
			}
			if _, err := p.Ingestor.IngestBytes(t.Context(), data, ingestor.Meta{
				RequestID: fmt.Sprintf("%s-%d", prefix, i), FileName: filepath.Base(f), Source: proto.SourceUpload,
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// waitReports waits until each arm's latest report covers n results.
	waitReports := func(n int) map[string]proto.DriftReport {
		t.Helper()
		var out map[string]proto.DriftReport
		bustest.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
			mu.Lock()
			defer mu.Unlock()
			for _, arm := range proto.Arms {
				if r := last[arm]; r.Results < n {
					return fmt.Errorf("arm %s: report on %d results, want %d", arm, r.Results, n)
				}
			}
			out = map[string]proto.DriftReport{}
			for k, v := range last {
				out[k] = v
			}
			return nil
		})
		return out
	}

	ingest("plain", 0)
	for arm, r := range waitReports(len(files)) {
		if r.ReferenceImages < 500 || r.InputWindow != len(files) || r.Level == proto.DriftLevelAlert || r.Level == proto.DriftLevelNoReference {
			t.Errorf("%s, unshifted images: %+v", arm, r)
		}
		for _, s := range r.Signals {
			t.Logf("%s unshifted: %s %s %.4g", arm, s.Name, s.Level, s.Value)
		}
	}
	mu.Lock()
	if len(alerts) != 0 {
		t.Errorf("alerts on unshifted images: %+v", alerts)
	}
	mu.Unlock()

	ingest("bright", 60)
	bustest.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		firing := map[string]bool{}
		for _, a := range alerts {
			if a.Status == proto.AlertFiring && a.Signal == proto.SignalInputPSI {
				firing[a.Arm] = true
			}
		}
		if !firing[proto.ArmChampion] || !firing[proto.ArmChallenger] {
			return fmt.Errorf("input_psi firing on %v, want both arms (alerts %d)", firing, len(alerts))
		}
		return nil
	})
	for arm, r := range waitReports(2 * len(files)) {
		for _, s := range r.Signals {
			t.Logf("%s brightened: %s %s %.4g", arm, s.Name, s.Level, s.Value)
		}
	}
}
