package platform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/feedback/client"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// serveProcess runs `hap serve` as a separate process that the test can kill.
type serveProcess struct {
	bin, data          string
	natsPort, httpPort int
	cmd                *exec.Cmd
}

func (s *serveProcess) start(t *testing.T) {
	t.Helper()
	root, _ := filepath.Abs("..")
	s.cmd = exec.Command(s.bin, "serve", "-data", s.data, "-models", filepath.Join(root, "models"),
		"-nats-port", fmt.Sprint(s.natsPort), "-http", fmt.Sprintf("127.0.0.1:%d", s.httpPort), "-sync-always=false", "-log-level", "warn")
	s.cmd.Dir = root // the ONNX Runtime library is found under .cache from here
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 2*time.Minute, 100*time.Millisecond, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", s.httpPort))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

func (s *serveProcess) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
}

// TestCrashMidRun kills the platform process with SIGKILL while images are
// being predicted and feedback recorded, restarts it on the same state, and
// checks that every image gets exactly one inference result and every
// feedback is counted exactly once. Images arrive the way a PACS integration
// sends them: bytes in the inbox object store, an event on xray.submit.
func TestCrashMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs hap serve as a subprocess")
	}
	const perClass = 100
	root := dataset(t, perClass)
	bin := filepath.Join(t.TempDir(), "hap")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hap")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build hap: %v\n%s", err, out)
	}
	sp := &serveProcess{bin: bin, data: t.TempDir(), natsPort: freePort(t), httpPort: freePort(t)}
	sp.start(t)
	defer func() { sp.cmd.Process.Kill(); sp.cmd.Wait() }()

	url := fmt.Sprintf("nats://127.0.0.1:%d", sp.natsPort)
	nc, err := bus.Connect(url, "crash-test", nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	type image struct{ id, label, path string }
	var images []image
	for _, label := range []string{proto.LabelNormal, proto.LabelPneumonia} {
		files, _ := filepath.Glob(filepath.Join(root, "test", label, "*.jpeg"))
		for _, f := range files {
			images = append(images, image{id: "crash-" + strings.TrimSuffix(filepath.Base(f), ".jpeg"), label: label, path: f})
		}
	}
	if len(images) != 2*perClass {
		t.Fatalf("%d images", len(images))
	}
	// submit retries until the running platform has the image and its event;
	// both steps are idempotent (same object name, same Nats-Msg-Id).
	submit := func(im image) {
		data := mustRead(t, im.path)
		bustest.CheckFor(t, 2*time.Minute, 200*time.Millisecond, func() error {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			inbox, err := js.ObjectStore(ctx, proto.BucketInbox)
			if err != nil {
				return err
			}
			if _, err := inbox.PutBytes(ctx, im.id, data); err != nil {
				return err
			}
			_, err = bus.Publish(ctx, js, proto.SubjectImageSubmit, &proto.ImageSubmitted{
				RequestID: im.id, InboxObject: im.id, Source: proto.SourcePACS, FileName: filepath.Base(im.path),
				DatasetLabel: im.label, DatasetSplit: "test", SubmittedAt: time.Now().UTC(),
			})
			return err
		})
	}
	results := func() map[string][]proto.InferenceResult {
		out := map[string][]proto.InferenceResult{}
		for _, data := range streamEvents(t, js, proto.StreamInference, proto.InferenceResultsAll) {
			var r proto.InferenceResult
			if err := proto.Decode(data, &r); err != nil {
				t.Fatal(err)
			}
			out[r.RequestID] = append(out[r.RequestID], r)
		}
		return out
	}
	fb, err := client.NewNATS(nc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]string{}
	for _, im := range images {
		truth[im.id] = im.label
	}
	answered := map[string]bool{}
	answer := func(rs map[string][]proto.InferenceResult) {
		for id, r := range rs {
			if answered[id] || len(id)%3 == 0 {
				continue
			}
			bustest.CheckFor(t, time.Minute, 200*time.Millisecond, func() error {
				_, err := fb.SubmitFeedback(t.Context(), id, feedbackType(r[0].Label, truth[id]), client.RadiologistID("DR003"))
				return err
			})
			answered[id] = true
		}
	}

	for _, im := range images[:120] {
		submit(im)
	}
	bustest.CheckFor(t, 2*time.Minute, 20*time.Millisecond, func() error {
		if n := len(results()); n < 30 {
			return fmt.Errorf("%d results", n)
		}
		return nil
	})
	answer(results())
	sp.kill(t) // mid-run: submissions, routing and predictions are in flight
	sp.start(t)
	for _, im := range images {
		submit(im) // the first 120 again (as a PACS would after an outage) and the rest
	}
	bustest.CheckFor(t, 3*time.Minute, 100*time.Millisecond, func() error {
		if n := len(results()); n < len(images) {
			return fmt.Errorf("%d of %d requests have results", n, len(images))
		}
		return nil
	})
	rs := results()
	for id, r := range rs {
		if len(r) != 1 {
			t.Errorf("request %s has %d results, want exactly 1", id, len(r))
		}
	}
	// Answers from before the crash are sent again; they must count once.
	for id := range answered {
		bustest.CheckFor(t, time.Minute, 200*time.Millisecond, func() error {
			_, err := fb.SubmitFeedback(t.Context(), id, feedbackType(rs[id][0].Label, truth[id]), client.RadiologistID("DR003"))
			return err
		})
	}
	answer(rs)
	want := expected(truthAndResults{truth: truth, results: rs}, answered)
	bustest.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/metrics/pneumonia", sp.httpPort))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var snap proto.MetricsSnapshot
		if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
			return err
		}
		for _, m := range snap.Models {
			w := want[m.Arm]
			if m.Predictions != w.Predictions || m.Feedback != w.Feedback || m.Confusion != w.Confusion {
				return fmt.Errorf("arm %s: predictions %d feedback %d confusion %+v; want %d %d %+v",
					m.Arm, m.Predictions, m.Feedback, m.Confusion, w.Predictions, w.Feedback, w.Confusion)
			}
		}
		return nil
	})
}
