package ingestor_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/dicom"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

const salt = "test-salt-0123456789abcdef"

var testNow = time.Date(2026, 11, 28, 10, 30, 0, 0, time.UTC)

// gray returns a w x h grayscale test image with a gradient and some noise.
func gray(w, h int, seed uint64) *image.Gray {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, color.Gray{Y: uint8((x*255)/max(w-1, 1)/2 + r.IntN(100))})
		}
	}
	return img
}

func jpegBytes(t *testing.T, w, h int, seed uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, gray(w, h, seed), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngBytes(t *testing.T, w, h int, seed uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, gray(w, h, seed)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type harness struct {
	env   *bustest.Env
	store *blob.Dir
	svc   *ingestor.Service
	cfg   ingestor.Config
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelError
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

func newHarness(t *testing.T, mutate func(*ingestor.Config)) *harness {
	t.Helper()
	env := bustest.Start(t)
	store, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingestor.DefaultConfig()
	cfg.HTTPAddr = ""
	cfg.PatientSalt = salt
	cfg.RetryDelay = 20 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := ingestor.New(cfg, ingestor.Deps{JS: env.JS, Store: store, Logger: testLogger(t), Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{env: env, store: store, svc: svc, cfg: cfg}
}

// run starts Run until the test ends and checks that it returns nil.
func (h *harness) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20s of cancel")
		}
	})
}

// events returns the messages on subject in the XRAY stream, in order.
func events(t *testing.T, env *bustest.Env, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := t.Context()
	s, err := env.JS.Stream(ctx, proto.StreamXRay)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

func ingestedEvents(t *testing.T, env *bustest.Env) []proto.ImageIngested {
	t.Helper()
	var out []proto.ImageIngested
	for _, m := range events(t, env, proto.SubjectImageIngested) {
		var ev proto.ImageIngested
		if err := proto.Decode(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func rejectedEvents(t *testing.T, env *bustest.Env) []proto.ImageRejected {
	t.Helper()
	var out []proto.ImageRejected
	for _, m := range events(t, env, proto.SubjectImageRejected) {
		var ev proto.ImageRejected
		if err := proto.Decode(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// waitCounts waits until the stream holds exactly the given numbers of
// ingested and rejected events.
func waitCounts(t *testing.T, env *bustest.Env, ingested, rejected int) {
	t.Helper()
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		i, r := len(events(t, env, proto.SubjectImageIngested)), len(events(t, env, proto.SubjectImageRejected))
		if i != ingested || r != rejected {
			return fmt.Errorf("%d ingested and %d rejected events, want %d and %d", i, r, ingested, rejected)
		}
		return nil
	})
}

// dicomFile returns a 96x80 DX chest radiograph (16-bit, windowed) with the
// identifiers of dicomtest, under the given SOP Instance UID.
func dicomFile(t *testing.T, sop string, mutate func(*dicomtest.File)) []byte {
	t.Helper()
	f := dicomtest.File{
		SOPInstanceUID: sop, StudyUID: "1.2.826.0.1.3680043.8.498.77", SeriesUID: "1.2.826.0.1.3680043.8.498.77.1",
		Rows: 80, Columns: 96, BitsAllocated: 16, BitsStored: 12, WindowCenter: "2048", WindowWidth: "4096",
		PixelSpacing: `0.15\0.15`, Manufacturer: "Acme Radiography", ViewPosition: "PA",
		Pixels: dicomtest.Gray16(96, 80, func(x, y int) uint16 { return uint16((x*37 + y*53) % 4096) }),
	}
	if mutate != nil {
		mutate(&f)
	}
	return f.Bytes()
}

// identifiers are the direct identifiers dicomtest files carry; none may be
// stored or published.
var identifiers = []string{dicomtest.PatientName, "DOE^", dicomtest.PatientID, dicomtest.PatientBirthDate,
	dicomtest.AccessionNumber, dicomtest.InstitutionName, dicomtest.ReferringPhys, dicomtest.PatientAddress}

// checkDICOMIngested checks an ImageIngested event of a DICOM input: the
// kept attributes, the salted patient key, no identifier in the event JSON
// or the stored bytes, and stored bytes that are the PNG of the decoded
// image, readable by the preprocessing.
func checkDICOMIngested(t *testing.T, h *harness, rawEvent []byte, ev proto.ImageIngested, input []byte) {
	t.Helper()
	want, err := dicom.Decode(input, dicom.Options{PatientKey: func(id string) string { return ingestor.PatientKey(salt, id) }})
	if err != nil {
		t.Fatalf("decode input: %v", err)
	}
	if ev.Modality != want.Modality || ev.ViewPosition != want.ViewPosition || ev.Manufacturer != want.Manufacturer ||
		ev.StudyInstanceUID != want.StudyInstanceUID || ev.SeriesInstanceUID != want.SeriesInstanceUID ||
		ev.SOPInstanceUID != want.SOPInstanceUID || fmt.Sprint(ev.PixelSpacing) != fmt.Sprint(want.PixelSpacing) {
		t.Errorf("event DICOM fields %+v, want %+v", ev, want.Attributes)
	}
	if ev.PatientKey != ingestor.PatientKey(salt, dicomtest.PatientID) {
		t.Errorf("patient key %q, want the salted hash of the DICOM PatientID", ev.PatientKey)
	}
	stored, err := h.store.Get(t.Context(), ev.Image.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range identifiers {
		if bytes.Contains(rawEvent, []byte(id)) || bytes.Contains(stored, []byte(id)) {
			t.Errorf("identifier %q found in the event or the stored bytes", id)
		}
	}
	if bytes.Contains(stored, []byte("DICM")) || !bytes.HasPrefix(stored, []byte("\x89PNG")) {
		t.Fatalf("stored bytes are not a PNG (%q...)", stored[:min(len(stored), 8)])
	}
	if sum := sha256.Sum256(stored); ev.ImageID != hex.EncodeToString(sum[:]) || ev.Image.SHA256 != ev.ImageID ||
		ev.Image.Format != "png" || ev.Image.SizeBytes != int64(len(stored)) || !strings.HasSuffix(ev.Image.Key, ".png") {
		t.Errorf("image ref %+v does not describe the stored PNG", ev.Image)
	}
	img, err := png.Decode(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok || !bytes.Equal(g.Pix, want.Gray.Pix) || g.Rect != want.Gray.Rect || ev.Image.Width != g.Rect.Dx() || ev.Image.Height != g.Rect.Dy() {
		t.Errorf("stored PNG (%T) is not the decoded image", img)
	}
	if _, err := preprocess.DefaultSpec(64).Decode(stored); err != nil {
		t.Errorf("preprocessing cannot read the stored image: %v", err)
	}
}
