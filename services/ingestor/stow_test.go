package ingestor_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
)

type stowPart struct {
	data        []byte
	contentType string // default application/dicom
}

// stowBody encodes parts as multipart/related; type="application/dicom".
func stowBody(t *testing.T, parts ...stowPart) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		ct := p.contentType
		if ct == "" {
			ct = ingestor.MediaTypeDICOM
		}
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ct}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary())
}

// stowResponse is the decoded DICOM JSON answer.
type stowResponse map[string]struct {
	VR    string           `json:"vr"`
	Value []map[string]any `json:"Value"`
}

// instances returns the SOP Instance UIDs of a sequence, with their failure
// reason (0 in the referenced sequence).
func (r stowResponse) instances(tag string) map[string]int {
	out := map[string]int{}
	for _, item := range r[tag].Value {
		uid := ""
		if v, ok := item["00081155"].(map[string]any)["Value"].([]any); ok {
			uid = v[0].(string)
		}
		reason := 0
		if v, ok := item["00081197"].(map[string]any); ok {
			reason = int(v["Value"].([]any)[0].(float64))
		}
		out[uid] = reason
	}
	return out
}

func stow(t *testing.T, url, contentType string, body *bytes.Buffer, accept string) (int, stowResponse, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out stowResponse
	if resp.Header.Get("Content-Type") == ingestor.MediaTypeDICOMJSON {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("status %d: DICOM JSON body: %v", resp.StatusCode, err)
		}
	}
	return resp.StatusCode, out, resp.Header
}

const (
	sopA = "1.2.826.0.1.3680043.8.498.501"
	sopB = "1.2.826.0.1.3680043.8.498.502"
	sopC = "1.2.826.0.1.3680043.8.498.503"
	sopD = "1.2.826.0.1.3680043.8.498.504"
)

func TestSTOWStoresEachInstance(t *testing.T) {
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.svc.STOWHandler())
	defer srv.Close()
	a, b := dicomFile(t, sopA, nil), dicomFile(t, sopB, func(f *dicomtest.File) { f.Photometric = "MONOCHROME1" })
	body, ct := stowBody(t, stowPart{data: a}, stowPart{data: b})
	status, resp, hdr := stow(t, srv.URL+"/dicom-web/studies", ct, body, ingestor.MediaTypeDICOMJSON)
	if status != http.StatusOK || hdr.Get("Content-Type") != ingestor.MediaTypeDICOMJSON {
		t.Fatalf("status %d %q, want 200 application/dicom+json", status, hdr.Get("Content-Type"))
	}
	if got := resp.instances("00081199"); len(got) != 2 || got[sopA] != 0 || got[sopB] != 0 {
		t.Fatalf("ReferencedSOPSequence %v", got)
	}
	if _, ok := resp["00081198"]; ok {
		t.Errorf("FailedSOPSequence present when all were stored: %v", resp)
	}
	item := resp["00081199"].Value[0]
	if cls := item["00081150"].(map[string]any); cls["vr"] != "UI" || cls["Value"].([]any)[0] != dicomtest.DXForPresentation {
		t.Errorf("ReferencedSOPClassUID %v", cls)
	}
	raw := events(t, h.env, proto.SubjectImageIngested)
	evs := ingestedEvents(t, h.env)
	if len(evs) != 2 {
		t.Fatalf("%d ingested events", len(evs))
	}
	for i, in := range [][]byte{a, b} {
		ev := evs[i]
		if ev.RequestID != ingestor.DICOMRequestID(ev.SOPInstanceUID) || ev.Source != proto.SourcePACS || ev.FileName != ev.SOPInstanceUID+".dcm" {
			t.Errorf("event %+v: want request id from the SOP Instance UID, source pacs", ev)
		}
		checkDICOMIngested(t, h, raw[i].Data, ev, in)
	}

	// A PACS retry (same instances) succeeds again without new events.
	body, ct = stowBody(t, stowPart{data: a}, stowPart{data: b})
	if status, _, _ := stow(t, srv.URL+"/dicom-web/studies/1.2.826.0.1.3680043.8.498.77", ct, body, ""); status != http.StatusOK {
		t.Fatalf("retry into the study: status %d", status)
	}
	waitCounts(t, h.env, 2, 0)
}

func TestSTOWReportsFailures(t *testing.T) {
	h := newHarness(t, func(c *ingestor.Config) { c.MaxBytes = 256 << 10 })
	srv := httptest.NewServer(h.svc.Handler()) // the routes are also on Handler
	defer srv.Close()
	good := dicomFile(t, sopA, nil)
	parts := []stowPart{
		{data: good},
		{data: dicomtest.File{SOPInstanceUID: sopB, TransferSyntax: dicomtest.JPEG2000Lossless, Pixels: []byte{1, 2}}.Bytes()},
		{data: dicomtest.File{SOPInstanceUID: sopC, Modality: "CT"}.Bytes()},
		{data: jpegBytes(t, 80, 80, 1), contentType: "image/jpeg"},
		{data: dicomtest.File{SOPInstanceUID: sopD, Rows: 600, Columns: 600}.Bytes()}, // 360 KB: over MaxBytes
	}
	body, ct := stowBody(t, parts...)
	status, resp, _ := stow(t, srv.URL+"/dicom-web/studies", ct, body, "application/dicom+json, application/json;q=0.5")
	if status != http.StatusAccepted {
		t.Fatalf("status %d, want 202", status)
	}
	if got := resp.instances("00081199"); len(got) != 1 || got[sopA] != 0 {
		t.Errorf("ReferencedSOPSequence %v", got)
	}
	want := map[string]int{sopB: ingestor.FailureTransferSyntax, sopC: ingestor.FailureSOPClass, "": ingestor.FailureOutOfResources}
	got := resp.instances("00081198")
	// The JPEG part and the too large part have no SOP Instance UID: both
	// under "", the last one wins.
	if len(resp["00081198"].Value) != 4 || got[sopB] != want[sopB] || got[sopC] != want[sopC] || got[""] != want[""] {
		t.Errorf("FailedSOPSequence %v (%d items), want %v and a 0xC000 item", got, len(resp["00081198"].Value), want)
	}
	waitCounts(t, h.env, 1, 4)
	var reasons []string
	for _, r := range rejectedEvents(t, h.env) {
		if r.Source != proto.SourcePACS {
			t.Errorf("rejection source %q", r.Source)
		}
		reasons = append(reasons, r.ReasonCode+": "+r.Reason)
	}
	for _, want := range []string{
		`unsupported_format: file "` + sopB + `.dcm": DICOM: transfer syntax 1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only)) is not supported`,
		`unsupported_format: file "` + sopC + `.dcm": DICOM: modality "CT" is not supported`,
		`STOW-RS part 4: Content-Type "image/jpeg": must be application/dicom`,
		`too_large: pacs image request_id=`,
	} {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("no rejection with %q in %q", want, reasons)
		}
	}

	// All failed: 409. A study mismatch: 0xC409.
	body, ct = stowBody(t, stowPart{data: dicomFile(t, sopD, nil)})
	status, resp, _ = stow(t, srv.URL+"/dicom-web/studies/1.2.3.4", ct, body, "")
	if status != http.StatusConflict || resp.instances("00081198")[sopD] != ingestor.FailureStudyUIDMismatch {
		t.Errorf("study mismatch: %d %v", status, resp)
	}
}

func TestSTOWBadRequests(t *testing.T) {
	h := newHarness(t, func(c *ingestor.Config) { c.StowMaxInstances = 1 })
	srv := httptest.NewServer(h.svc.STOWHandler())
	defer srv.Close()
	url := srv.URL + "/dicom-web/studies"
	one := func() (*bytes.Buffer, string) { return stowBody(t, stowPart{data: dicomFile(t, sopA, nil)}) }
	for _, tc := range []struct {
		name   string
		url    string
		ct     func(string) string
		accept string
		body   *bytes.Buffer
		status int
	}{
		{name: "not multipart", ct: func(string) string { return "application/dicom" }, status: http.StatusUnsupportedMediaType},
		{name: "metadata and bulk data", ct: func(ct string) string {
			return strings.Replace(ct, `type="application/dicom"`, `type="application/dicom+json"`, 1)
		}, status: http.StatusUnsupportedMediaType},
		{name: "no boundary", ct: func(string) string { return `multipart/related; type="application/dicom"` }, status: http.StatusBadRequest},
		{name: "XML answer wanted", accept: "application/dicom+xml", status: http.StatusNotAcceptable},
		{name: "bad study UID", url: url + "/not-a-uid", status: http.StatusBadRequest},
		{name: "no part", body: func() *bytes.Buffer { b, _ := stowBody(t); return b }(), status: http.StatusBadRequest},
		{name: "broken body", body: bytes.NewBufferString("--x\r\nContent-Type: application/dicom\r\n\r\nabc"), ct: func(string) string { return `multipart/related; type="application/dicom"; boundary=y` }, status: http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := one()
			if tc.body != nil {
				body = tc.body
			}
			if tc.ct != nil {
				ct = tc.ct(ct)
			}
			u := url
			if tc.url != "" {
				u = tc.url
			}
			if status, _, _ := stow(t, u, ct, body, tc.accept); status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
		})
	}
	waitCounts(t, h.env, 0, 0)

	// More instances than allowed: the first is stored, the rest refused.
	body, ct := stowBody(t, stowPart{data: dicomFile(t, sopA, nil)}, stowPart{data: dicomFile(t, sopB, nil)})
	status, resp, _ := stow(t, url, ct, body, "")
	if status != http.StatusAccepted || len(resp.instances("00081199")) != 1 {
		t.Errorf("over StowMaxInstances: %d %v, want 202 with one stored", status, resp)
	}
}

func TestSTOWStoreUnavailable(t *testing.T) {
	env := newHarness(t, nil).env
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingestor.DefaultConfig()
	cfg.HTTPAddr, cfg.PatientSalt = "", salt
	svc, err := ingestor.New(cfg, ingestor.Deps{JS: env.JS, Store: failingStore{dir}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.STOWHandler())
	defer srv.Close()
	body, ct := stowBody(t, stowPart{data: dicomFile(t, sopA, nil)})
	status, resp, hdr := stow(t, srv.URL+"/dicom-web/studies", ct, body, "")
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || resp.instances("00081198")[sopA] != ingestor.FailureOutOfResources {
		t.Errorf("store down: %d %v (Retry-After %q), want 503 with 0xA700", status, resp, hdr.Get("Retry-After"))
	}
	waitCounts(t, env, 0, 0)
}
