package ingestor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
)

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type upload struct {
	fields   map[string]string
	file     []byte
	fileName string
	noFile   bool
}

func multipartBody(t *testing.T, u upload) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range u.fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if !u.noFile {
		fw, err := mw.CreateFormFile("image", u.fileName)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(u.file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func post(t *testing.T, url, contentType string, body io.Reader, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/images", body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %d: body is not JSON: %v", resp.StatusCode, err)
	}
	want := "application/json"
	if resp.StatusCode >= 400 {
		want = "application/problem+json" // RFC 9457
	}
	if ct := resp.Header.Get("Content-Type"); ct != want {
		t.Errorf("status %d: Content-Type %q, want %s", resp.StatusCode, ct, want)
	}
	return resp.StatusCode, out
}

func TestUploadAccepted(t *testing.T) {
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.svc.Handler())
	defer srv.Close()
	img := jpegBytes(t, 100, 90, 1)

	body, ct := multipartBody(t, upload{file: img, fileName: "scan.jpeg", fields: map[string]string{
		"client_request_id": "order-77", "patient_id": "MRN-123456", "study_id": "study-9", "submit": "Send",
	}})
	status, resp := post(t, srv.URL, ct, body, nil)
	if status != http.StatusAccepted {
		t.Fatalf("multipart upload: %d %v", status, resp)
	}
	if !uuidRe.MatchString(resp["request_id"].(string)) || resp["image_id"] != sha(img) || resp["client_request_id"] != "order-77" {
		t.Fatalf("response %v", resp)
	}

	png := pngBytes(t, 80, 80, 2)
	status, resp2 := post(t, srv.URL, "image/png", bytes.NewReader(png), map[string]string{
		ingestor.HeaderPatientID: "MRN-123456", ingestor.HeaderClientRequestID: "order-78",
	})
	if status != http.StatusAccepted || resp2["image_id"] != sha(png) {
		t.Fatalf("raw upload: %d %v", status, resp2)
	}

	raw := events(t, h.env, proto.SubjectImageIngested)
	evs := ingestedEvents(t, h.env)
	if len(evs) != 2 {
		t.Fatalf("%d ingested events, want 2", len(evs))
	}
	wantKey := ingestor.PatientKey(salt, "MRN-123456")
	for i, ev := range evs {
		if ev.PatientKey != wantKey || ev.Source != proto.SourceUpload {
			t.Errorf("event %d: patient key %q source %q, want %q upload", i, ev.PatientKey, ev.Source, wantKey)
		}
		if bytes.Contains(raw[i].Data, []byte("MRN-123456")) {
			t.Errorf("event %d carries the raw patient id: %s", i, raw[i].Data)
		}
	}
	if evs[0].RequestID != resp["request_id"] || evs[0].FileName != "scan.jpeg" || evs[0].StudyID != "study-9" || evs[0].ClientRequestID != "order-77" {
		t.Errorf("multipart event %+v", evs[0])
	}
	if evs[1].Image.Format != "png" || evs[1].ClientRequestID != "order-78" {
		t.Errorf("raw event %+v", evs[1])
	}
}

func TestUploadRejected(t *testing.T) {
	h := newHarness(t, func(c *ingestor.Config) { c.MaxBytes = 40 << 10 })
	srv := httptest.NewServer(h.svc.Handler())
	defer srv.Close()
	full := jpegBytes(t, 120, 120, 3)
	cases := []struct {
		name        string
		contentType string
		body        func() (io.Reader, string)
		status      int
		code        string
		inReason    string
	}{
		{"text as jpeg", "image/jpeg", raw([]byte("hello, not an image")), http.StatusUnsupportedMediaType, proto.RejectFormat, "not a JPEG or PNG"},
		{"truncated jpeg", "image/jpeg", raw(full[:len(full)/2]), http.StatusUnprocessableEntity, proto.RejectUndecodable, "truncated or corrupt"},
		{"too small", "image/jpeg", raw(jpegBytes(t, 40, 200, 4)), http.StatusUnprocessableEntity, proto.RejectTooSmall, "40x200 px"},
		{"empty body", "image/png", raw(nil), http.StatusBadRequest, proto.RejectMissing, "empty"},
		{"too large", "image/png", raw(pngBytes(t, 300, 300, 5)), http.StatusRequestEntityTooLarge, proto.RejectTooLarge, "limit of 40960 bytes"},
		{"wrong content type", "text/plain", raw([]byte("x")), http.StatusUnsupportedMediaType, proto.RejectFormat, `"text/plain"`},
		{"no content type", "", raw([]byte("x")), http.StatusUnsupportedMediaType, proto.RejectFormat, "Content-Type"},
		{"multipart without image", "", func() (io.Reader, string) {
			return multipartBody(t, upload{noFile: true, fields: map[string]string{"patient_id": "p"}})
		}, http.StatusBadRequest, proto.RejectMissing, `form field "image": missing`},
		{"multipart bad file", "", func() (io.Reader, string) {
			return multipartBody(t, upload{file: []byte("GIF89a...."), fileName: "cat.gif"})
		}, http.StatusUnsupportedMediaType, proto.RejectFormat, `file "cat.gif"`},
		{"bad field", "", func() (io.Reader, string) {
			return multipartBody(t, upload{file: jpegBytes(t, 80, 80, 6), fileName: "a.jpeg", fields: map[string]string{"study_id": "bad\x01id"}})
		}, http.StatusBadRequest, proto.RejectInvalid, "study_id: control character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := tc.body()
			if ct == "" {
				ct = tc.contentType
			}
			status, resp := post(t, srv.URL, ct, body, nil)
			if status != tc.status || resp["type"] != ingestor.ProblemType(tc.code) || !strings.Contains(resp["detail"].(string), tc.inReason) {
				t.Fatalf("got %d %v; want %d type %s with %q in the detail", status, resp, tc.status, ingestor.ProblemType(tc.code), tc.inReason)
			}
			id, _ := resp["request_id"].(string)
			var found bool
			for _, ev := range rejectedEvents(t, h.env) {
				if ev.RequestID == id {
					found = ev.ReasonCode == tc.code && ev.Reason == resp["detail"]
				}
			}
			if !found {
				t.Fatalf("no matching rejected event for request %s", id)
			}
		})
	}
	if n := len(ingestedEvents(t, h.env)); n != 0 {
		t.Fatalf("%d ingested events after bad uploads", n)
	}
	if objs, _ := h.store.List(t.Context(), ""); len(objs) != 0 {
		t.Fatalf("bad uploads reached the blob store: %v", objs)
	}

	// Wrong method and path: plain HTTP errors, no events.
	resp, err := http.Get(srv.URL + "/v1/images")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/images: %d, want 405", resp.StatusCode)
	}
	waitCounts(t, h.env, 0, len(cases))
}

func raw(b []byte) func() (io.Reader, string) {
	return func() (io.Reader, string) { return bytes.NewReader(b), "" }
}

// failingStore is a blob store whose writes fail, like a full disk.
type failingStore struct{ blob.Store }

func (failingStore) Put(context.Context, string, []byte) error { return errors.New("disk full") }

func TestUploadStoreFailureIsRetryableAndAnnouncesNothing(t *testing.T) {
	env := bustest.Start(t)
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingestor.DefaultConfig()
	cfg.PatientSalt = salt
	svc, err := ingestor.New(cfg, ingestor.Deps{JS: env.JS, Store: failingStore{dir}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	status, resp := post(t, srv.URL, "image/jpeg", bytes.NewReader(jpegBytes(t, 80, 80, 1)), nil)
	if status != http.StatusServiceUnavailable || resp["type"] != ingestor.ProblemType(ingestor.CodeUnavailable) || !strings.Contains(resp["detail"].(string), "disk full") {
		t.Fatalf("got %d %v, want 503 unavailable naming the cause", status, resp)
	}
	if n := len(ingestedEvents(t, env)); n != 0 {
		t.Fatalf("%d ingested events for an image that was not stored", n)
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.svc.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}

func TestUploadDICOM(t *testing.T) {
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.svc.Handler())
	defer srv.Close()

	// A raw application/dicom body; the file's PatientID wins over the header.
	first := dicomFile(t, "1.2.826.0.1.3680043.8.498.100", nil)
	status, resp := post(t, srv.URL, ingestor.MediaTypeDICOM, bytes.NewReader(first), map[string]string{ingestor.HeaderPatientID: "OTHER-ID"})
	if status != http.StatusAccepted {
		t.Fatalf("raw DICOM upload: %d %v", status, resp)
	}
	// A multipart upload whose "image" field is a DICOM file (MONOCHROME1, JPEG baseline).
	second := dicomFile(t, "1.2.826.0.1.3680043.8.498.101", func(f *dicomtest.File) {
		f.TransferSyntax, f.Photometric, f.BitsAllocated, f.BitsStored = dicomtest.JPEGBaseline, "MONOCHROME1", 8, 8
		f.WindowCenter, f.WindowWidth = "", ""
		f.Rows, f.Columns = 100, 120
		f.Pixels = dicomtest.JPEG(t, dicomtest.GrayImage(120, 100), 90)
	})
	body, ct := multipartBody(t, upload{file: second, fileName: "chest.dcm"})
	if status, resp := post(t, srv.URL, ct, body, nil); status != http.StatusAccepted {
		t.Fatalf("multipart DICOM upload: %d %v", status, resp)
	}
	raw := events(t, h.env, proto.SubjectImageIngested)
	evs := ingestedEvents(t, h.env)
	if len(evs) != 2 {
		t.Fatalf("%d ingested events, want 2", len(evs))
	}
	if evs[0].RequestID != resp["request_id"] || resp["image_id"] != evs[0].ImageID {
		t.Errorf("response %v does not match event %+v", resp, evs[0])
	}
	for i, in := range [][]byte{first, second} {
		checkDICOMIngested(t, h, raw[i].Data, evs[i], in)
	}
	if evs[1].FileName != "chest.dcm" || evs[1].Source != proto.SourceUpload {
		t.Errorf("multipart event %+v", evs[1])
	}

	// Rejections say what is unsupported.
	for _, tc := range []struct {
		name     string
		file     []byte
		status   int
		code     string
		inReason string
	}{
		{"JPEG 2000", dicomtest.File{TransferSyntax: dicomtest.JPEG2000Lossless, Pixels: []byte{1, 2}}.Bytes(), http.StatusUnsupportedMediaType, proto.RejectFormat,
			"transfer syntax 1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only)) is not supported"},
		{"CT", dicomtest.File{Modality: "CT"}.Bytes(), http.StatusUnsupportedMediaType, proto.RejectFormat, `modality "CT" is not supported`},
		{"truncated", first[:len(first)-100], http.StatusUnprocessableEntity, proto.RejectUndecodable, "PixelData (7FE0,0010)"},
		{"too small", dicomtest.File{Rows: 32, Columns: 48}.Bytes(), http.StatusUnprocessableEntity, proto.RejectTooSmall, "48x32 px"},
		{"too large", dicomtest.File{Rows: 9000, Columns: 100, Pixels: []byte{0, 0}}.Bytes(), http.StatusRequestEntityTooLarge, proto.RejectTooLarge, "more than the maximum of 8192"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := post(t, srv.URL, ingestor.MediaTypeDICOM, bytes.NewReader(tc.file), nil)
			if status != tc.status || resp["type"] != ingestor.ProblemType(tc.code) || !strings.Contains(resp["detail"].(string), tc.inReason) {
				t.Fatalf("got %d %v; want %d %s with %q", status, resp, tc.status, ingestor.ProblemType(tc.code), tc.inReason)
			}
		})
	}
	for _, m := range events(t, h.env, proto.SubjectImageRejected) {
		for _, id := range identifiers {
			if bytes.Contains(m.Data, []byte(id)) {
				t.Errorf("rejected event carries identifier %q: %s", id, m.Data)
			}
		}
	}
	waitCounts(t, h.env, 2, 5)
}
