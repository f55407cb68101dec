package ingestor_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
)

func inbox(t *testing.T, env *bustest.Env) jetstream.ObjectStore {
	t.Helper()
	obs, err := bus.OpenObjectStore(t.Context(), env.JS, jetstream.ObjectStoreConfig{Bucket: proto.BucketInbox})
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func submit(t *testing.T, env *bustest.Env, ev *proto.ImageSubmitted) {
	t.Helper()
	if _, err := bus.Publish(t.Context(), env.JS, proto.SubjectImageSubmit, ev); err != nil {
		t.Fatal(err)
	}
}

func waitGone(t *testing.T, obs jetstream.ObjectStore, name string) {
	t.Helper()
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		_, err := obs.GetInfo(t.Context(), name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil
		}
		return fmt.Errorf("inbox object %s still there (%v)", name, err)
	})
}

// waitSettled waits until the ingestor's consumer has acknowledged every
// message up to the stream's last one.
func waitSettled(t *testing.T, env *bustest.Env) {
	t.Helper()
	ctx := t.Context()
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		c, err := env.JS.Consumer(ctx, proto.StreamXRay, proto.ConsumerIngestor)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 {
			return fmt.Errorf("consumer: %d pending, %d awaiting ack", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

func TestInboxSubmissions(t *testing.T) {
	h := newHarness(t, nil)
	h.run(t)
	ctx := t.Context()
	obs := inbox(t, h.env)
	img := jpegBytes(t, 128, 128, 1)
	if _, err := obs.PutBytes(ctx, "pacs/1.jpeg", img); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, "pacs/2.jpeg", []byte("%PDF-1.7 not an image")); err != nil {
		t.Fatal(err)
	}
	submit(t, h.env, &proto.ImageSubmitted{RequestID: "pacs-1", ClientRequestID: "acc-1", InboxObject: "pacs/1.jpeg",
		PatientID: "MRN-9", StudyID: "st-1", DatasetLabel: proto.LabelPneumonia, SubmittedAt: testNow})
	submit(t, h.env, &proto.ImageSubmitted{RequestID: "pacs-2", InboxObject: "pacs/2.jpeg", FileName: "report.jpeg"})
	submit(t, h.env, &proto.ImageSubmitted{RequestID: "pacs-3", InboxObject: "pacs/never-uploaded.jpeg"})

	waitCounts(t, h.env, 1, 2)
	ev := ingestedEvents(t, h.env)[0]
	if ev.RequestID != "pacs-1" || ev.Source != proto.SourcePACS || ev.ImageID != sha(img) || ev.ClientRequestID != "acc-1" ||
		ev.StudyID != "st-1" || ev.DatasetLabel != proto.LabelPneumonia || ev.PatientKey != ingestor.PatientKey(salt, "MRN-9") || ev.FileName != "pacs/1.jpeg" {
		t.Fatalf("ingested event %+v", ev)
	}
	if stored, err := h.store.Get(ctx, ev.Image.Key); err != nil || !bytes.Equal(stored, img) {
		t.Fatalf("stored image: %v", err)
	}
	got := map[string]proto.ImageRejected{}
	for _, r := range rejectedEvents(t, h.env) {
		got[r.RequestID] = r
	}
	if r := got["pacs-2"]; r.ReasonCode != proto.RejectFormat || !strings.Contains(r.Reason, `"report.jpeg"`) {
		t.Errorf("pacs-2 rejection %+v", r)
	}
	if r := got["pacs-3"]; r.ReasonCode != proto.RejectMissing || !strings.Contains(r.Reason, `"pacs/never-uploaded.jpeg"`) {
		t.Errorf("pacs-3 rejection %+v", r)
	}
	// Inbox objects are deleted once their event is out.
	waitGone(t, obs, "pacs/1.jpeg")
	waitGone(t, obs, "pacs/2.jpeg")
	waitSettled(t, h.env)

	// A redelivery after the object was consumed (a crash before the ack) is
	// recognised from the delete marker: no contradicting rejection.
	m := nats.NewMsg(proto.SubjectImageSubmit)
	m.Data, _ = proto.Encode(&proto.ImageSubmitted{RequestID: "pacs-1", InboxObject: "pacs/1.jpeg"})
	m.Header.Set(proto.HeaderMsgID, "redelivery-of-pacs-1")
	if _, err := h.env.JS.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	// A different request naming an object consumed by pacs-1 is missing.
	submit(t, h.env, &proto.ImageSubmitted{RequestID: "pacs-4", InboxObject: "pacs/1.jpeg"})
	waitSettled(t, h.env)
	waitCounts(t, h.env, 1, 3)
	for _, r := range rejectedEvents(t, h.env) {
		if r.RequestID == "pacs-1" {
			t.Fatalf("redelivery produced a rejection: %+v", r)
		}
	}
}

func TestInboxPoisonIsDeadLetteredAndObjectKept(t *testing.T) {
	h := newHarness(t, nil)
	h.run(t)
	ctx := t.Context()
	obs := inbox(t, h.env)
	if _, err := obs.PutBytes(ctx, "keep.jpeg", jpegBytes(t, 80, 80, 1)); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{`{"request_id": "bad id with spaces", "inbox_object": "keep.jpeg"}`, `not json`, `{"request_id":"x"}`} {
		if _, err := h.env.JS.Publish(ctx, proto.SubjectImageSubmit, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	dl, err := h.env.JS.Stream(ctx, proto.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		info, err := dl.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 3 {
			return fmt.Errorf("%d dead letters, want 3", info.State.Msgs)
		}
		return nil
	})
	if _, err := obs.GetInfo(ctx, "keep.jpeg"); err != nil {
		t.Fatalf("inbox object of a dead-lettered submission: %v; it must be kept", err)
	}
	// Still working afterwards.
	submit(t, h.env, &proto.ImageSubmitted{RequestID: "ok-1", InboxObject: "keep.jpeg"})
	waitCounts(t, h.env, 1, 0)
}

func TestRunServesHTTP(t *testing.T) {
	h := newHarness(t, func(c *ingestor.Config) { c.HTTPAddr = "127.0.0.1:0" })
	h.run(t)
	var addr string
	bustest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if a := h.svc.Addr(); a != nil {
			addr = a.String()
			return nil
		}
		return errors.New("not listening yet")
	})
	status, resp := post(t, "http://"+addr, "image/jpeg", bytes.NewReader(jpegBytes(t, 90, 90, 1)), nil)
	if status != http.StatusAccepted {
		t.Fatalf("upload through Run's listener: %d %v", status, resp)
	}
	waitCounts(t, h.env, 1, 0)
}

func TestConfigValidate(t *testing.T) {
	cfg := ingestor.DefaultConfig()
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "patient_salt") {
		t.Fatalf("default config without salt: %v, want patient_salt named", err)
	}
	cfg.PatientSalt = salt
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.MinSide, cfg.MaxSide, cfg.HTTPAddr, cfg.Workers = 100, 50, "nohost", 0
	err = cfg.Validate()
	for _, field := range []string{"max_side 50", `http_addr "nohost"`, "workers 0"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate = %v, want %q named", err, field)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := ingestor.NewRequestID()
		if !uuidRe.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %s", id)
		}
		seen[id] = true
	}
	a := ingestor.FolderRequestID("train/NORMAL/a.jpeg", "abc")
	if a != ingestor.FolderRequestID("train/NORMAL/a.jpeg", "abc") || a == ingestor.FolderRequestID("train/NORMAL/b.jpeg", "abc") ||
		a == ingestor.FolderRequestID("train/NORMAL/a.jpeg", "abd") {
		t.Fatal("folder ids must be a function of path and content")
	}
	if ingestor.PatientKey(salt, "p") == ingestor.PatientKey("another-salt-0123456", "p") || ingestor.PatientKey(salt, "") != "" {
		t.Fatal("patient key must depend on the salt and be empty for no patient")
	}
}

func TestInboxDICOM(t *testing.T) {
	h := newHarness(t, nil)
	h.run(t)
	obs := inbox(t, h.env)
	file := dicomFile(t, "1.2.826.0.1.3680043.8.498.300", nil)
	if _, err := obs.PutBytes(t.Context(), "pacs/300.dcm", file); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(t.Context(), "pacs/301.dcm", dicomtest.File{TransferSyntax: "1.2.840.10008.1.2.4.80"}.Bytes()); err != nil {
		t.Fatal(err)
	}
	submit(t, h.env, &proto.ImageSubmitted{RequestID: "pacs-300", InboxObject: "pacs/300.dcm"})
	submit(t, h.env, &proto.ImageSubmitted{RequestID: "pacs-301", InboxObject: "pacs/301.dcm"})
	waitCounts(t, h.env, 1, 1)
	raw := events(t, h.env, proto.SubjectImageIngested)
	ev := ingestedEvents(t, h.env)[0]
	if ev.RequestID != "pacs-300" || ev.Source != proto.SourcePACS {
		t.Errorf("event %+v", ev)
	}
	checkDICOMIngested(t, h, raw[0].Data, ev, file)
	if r := rejectedEvents(t, h.env)[0]; r.ReasonCode != proto.RejectFormat || !strings.Contains(r.Reason, "1.2.840.10008.1.2.4.80 (JPEG-LS Lossless Image Compression) is not supported") {
		t.Errorf("rejection %+v", r)
	}
	waitGone(t, obs, "pacs/300.dcm")
	waitGone(t, obs, "pacs/301.dcm")
}
