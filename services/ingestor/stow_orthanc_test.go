package ingestor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/dicom"
	"github.com/healthcare-ai/platform/xray/dicom/dicomtest"
)

// unavailable fails the test in CI (CI=true), where the PACS must be there
// (scripts/setup.sh dicom installs it), and skips it elsewhere.
func unavailable(t *testing.T, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the Orthanc integration test must run; install with scripts/setup.sh dicom)", msg)
	}
	t.Skipf("%s; install with scripts/setup.sh dicom to run this test", msg)
}

// findOrthanc returns the Orthanc binary and its DICOMweb plugin (Debian
// packages orthanc and orthanc-dicomweb).
func findOrthanc(t *testing.T) (bin, plugin string) {
	t.Helper()
	bin, err := exec.LookPath("Orthanc")
	if err != nil {
		bin = "/usr/sbin/Orthanc" // not on a non-root PATH
	}
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, "Orthanc not installed (%v)", err)
	}
	for _, pattern := range []string{"/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so*"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return bin, m[0]
		}
	}
	unavailable(t, "Orthanc's DICOMweb plugin (libOrthancDicomWeb.so) not installed")
	return "", ""
}

// freePort returns a TCP port free on every interface (Orthanc has no bind
// address option).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

type orthanc struct {
	url    string
	log    *syncBuffer
	client *http.Client
}

// startOrthanc runs Orthanc with its storage in a temporary folder, HTTP on
// a free port answering loopback only, no DICOM listener and no known
// modality, and stowURL as the DICOMweb server "hap".
func startOrthanc(t *testing.T, stowURL string) *orthanc {
	t.Helper()
	bin, plugin := findOrthanc(t)
	dir := t.TempDir()
	httpPort := freePort(t)
	cfg := map[string]any{
		"Name":                  "hap-test",
		"StorageDirectory":      filepath.Join(dir, "storage"),
		"IndexDirectory":        filepath.Join(dir, "index"),
		"HttpPort":              httpPort,
		"RemoteAccessAllowed":   false, // it listens on every interface: answer loopback only
		"AuthenticationEnabled": false,
		"DicomServerEnabled":    false,
		"DicomPort":             freePort(t), // used only if the option above were ignored
		"DicomModalities":       map[string]any{},
		"DicomAlwaysAllowStore": false,
		"HttpTimeout":           30,
		"SaveJobs":              false,
		"Plugins":               []string{plugin},
		"DicomWeb": map[string]any{
			"Enable":  true,
			"Root":    "/dicom-web/",
			"Servers": map[string]any{"hap": []string{stowURL}},
		},
	}
	cfgPath := filepath.Join(dir, "orthanc.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &orthanc{url: fmt.Sprintf("http://127.0.0.1:%d", httpPort), log: &syncBuffer{}, client: &http.Client{Timeout: 60 * time.Second}}
	cmd := exec.Command(bin, "--verbose", cfgPath)
	cmd.Stdout, cmd.Stderr = o.log, o.log
	if err := cmd.Start(); err != nil {
		unavailable(t, "start Orthanc: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("Orthanc (pid %d) did not exit within 10s of kill", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("Orthanc log:\n%s", o.log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			unavailable(t, "Orthanc exited at start (%v):\n%s", err, o.log)
		default:
		}
		var sys struct{ Version string }
		if err := o.do(t, http.MethodGet, "/system", nil, &sys); err == nil && sys.Version != "" {
			t.Logf("Orthanc %s on %s", sys.Version, o.url)
			return o
		}
		if time.Now().After(deadline) {
			unavailable(t, "Orthanc did not answer on %s within 30s:\n%s", o.url, o.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do calls Orthanc's REST API; body may be []byte (sent as is) or a value
// sent as JSON; out, if not nil, receives the JSON answer.
func (o *orthanc) do(t *testing.T, method, path string, body, out any) error {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, o.url+path, r)
	if err != nil {
		return err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: answer %q: %w", method, path, data, err)
		}
	}
	return nil
}

// upload stores a DICOM file in Orthanc and returns its instance id.
func (o *orthanc) upload(t *testing.T, data []byte) string {
	t.Helper()
	var res struct {
		ID     string
		Status string
	}
	if err := o.do(t, http.MethodPost, "/instances", data, &res); err != nil || res.ID == "" {
		t.Fatalf("upload to Orthanc: %v (%+v)", err, res)
	}
	return res.ID
}

// stow asks Orthanc to send resources to the DICOMweb server "hap" and
// waits (at most 60 s) for the job to end; it returns the job's final state.
func (o *orthanc) stow(t *testing.T, resources ...string) (state string, detail string) {
	t.Helper()
	var job struct{ ID, Path string }
	if err := o.do(t, http.MethodPost, "/dicom-web/servers/hap/stow", map[string]any{"Resources": resources}, &job); err != nil {
		return "Failure", err.Error() // a synchronous failure
	}
	if job.ID == "" {
		return "Success", "synchronous"
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var info struct {
			State            string
			ErrorCode        int
			ErrorDetails     string
			ErrorDescription string
		}
		if err := o.do(t, http.MethodGet, "/jobs/"+job.ID, nil, &info); err != nil {
			t.Fatalf("job %s: %v", job.ID, err)
		}
		switch info.State {
		case "Success", "Failure":
			return info.State, info.ErrorDescription + ": " + info.ErrorDetails
		}
		if time.Now().After(deadline) {
			t.Fatalf("STOW job %s still %s after 60s", job.ID, info.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// img2dcm wraps a JPEG as a DICOM file with dcmtk, setting the given
// attributes.
func img2dcm(t *testing.T, jpegData []byte, attrs ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("img2dcm")
	if err != nil {
		unavailable(t, "dcmtk's img2dcm not installed (%v)", err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jpeg"), filepath.Join(dir, "out.dcm")
	if err := os.WriteFile(in, jpegData, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{}
	for _, a := range attrs {
		args = append(args, "-k", a)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, bin, append(args, in, out)...).CombinedOutput(); err != nil {
		t.Fatalf("img2dcm: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestOrthancSTOW sends a chest X-ray from a real PACS: Orthanc, configured
// with the ingestor's STOW-RS URL as a DICOMweb server, pushes the instance;
// the ingestor stores it de-identified and announces it with its DICOM
// attributes. A resend is idempotent, and a CT instance is refused.
func TestOrthancSTOW(t *testing.T) {
	h := newHarness(t, func(c *ingestor.Config) { c.HTTPAddr = "127.0.0.1:0" })
	h.run(t)
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if h.svc.Addr() == nil {
			return fmt.Errorf("ingestor HTTP not listening")
		}
		return nil
	})
	stowURL := "http://" + h.svc.Addr().String() + "/dicom-web/"
	pacs := startOrthanc(t, stowURL)

	const patientID = "PAT-ORTHANC-7"
	chest := img2dcm(t, dicomtest.JPEG(t, dicomtest.GrayImage(320, 256), 90),
		"Modality=DX", "ViewPosition=PA", "PatientName=DOE^JANE", "PatientID="+patientID,
		"PatientBirthDate=19700101", "InstitutionName=St Example Hospital", "AccessionNumber=ACC-7781")
	attrs, err := dicom.ReadAttributes(chest, dicom.Options{})
	if err != nil || attrs.SOPInstanceUID == "" || attrs.TransferSyntaxUID != dicom.JPEGBaseline {
		t.Fatalf("img2dcm output: %+v, %v", attrs, err)
	}
	id := pacs.upload(t, chest)
	if state, detail := pacs.stow(t, id); state != "Success" {
		t.Fatalf("Orthanc STOW job: %s %s", state, detail)
	}
	waitCounts(t, h.env, 1, 0)
	raw := events(t, h.env, proto.SubjectImageIngested)[0].Data
	ev := ingestedEvents(t, h.env)[0]
	if ev.SOPInstanceUID != attrs.SOPInstanceUID || ev.StudyInstanceUID != attrs.StudyInstanceUID || ev.SeriesInstanceUID != attrs.SeriesInstanceUID ||
		ev.Modality != "DX" || ev.ViewPosition != "PA" || ev.Source != proto.SourcePACS {
		t.Errorf("event %s, want the instance's UIDs, modality DX, view PA, source pacs", raw)
	}
	if ev.RequestID != ingestor.DICOMRequestID(attrs.SOPInstanceUID) || ev.PatientKey != ingestor.PatientKey(salt, patientID) {
		t.Errorf("request id %q and patient key %q: want the SOP-derived id and the salted hash of %s", ev.RequestID, ev.PatientKey, patientID)
	}
	for _, s := range []string{"DOE", "JANE", patientID, "19700101", "Example Hospital", "ACC-7781"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("ImageIngested carries identifier %q: %s", s, raw)
		}
	}
	stored, err := h.store.Get(t.Context(), ev.Image.Key)
	if err != nil || !bytes.HasPrefix(stored, []byte("\x89PNG")) || bytes.Contains(stored, []byte("DOE")) {
		t.Errorf("stored image: %v (PNG: %v)", err, bytes.HasPrefix(stored, []byte("\x89PNG")))
	}

	// The PACS resends the study: accepted again, announced once.
	if state, detail := pacs.stow(t, id); state != "Success" {
		t.Fatalf("second STOW job: %s %s", state, detail)
	}
	// A CT instance is refused; Orthanc's job fails and the refusal is on
	// xray.rejected with the reason.
	ct := img2dcm(t, dicomtest.JPEG(t, dicomtest.GrayImage(128, 128), 90), "Modality=CT", "PatientName=DOE^JOHN")
	if state, _ := pacs.stow(t, pacs.upload(t, ct)); state != "Failure" {
		t.Errorf("STOW of a CT instance: job %s, want Failure", state)
	}
	waitCounts(t, h.env, 1, 1)
	if r := rejectedEvents(t, h.env)[0]; r.ReasonCode != proto.RejectFormat || !strings.Contains(r.Reason, `modality "CT" is not supported`) {
		t.Errorf("rejection %+v", r)
	}
}
