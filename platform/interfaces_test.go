package platform_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/xray/dicom"
	"github.com/healthcare-ai/platform/xray/synth"
)

// TestClinicalAndMLInterfaces drives the platform as a PACS and as ML tools
// would: DICOM instances pushed over DICOMweb STOW-RS get predictions, the
// Open Inference Protocol and MLflow scoring endpoints answer and their
// predictions are logged and counted like any other.
func TestClinicalAndMLInterfaces(t *testing.T) {
	p := startPlatform(t, t.TempDir())
	defer p.Stop(t.Context())
	base := "http://" + p.HTTPAddr().String()

	// A PACS pushes a study of DICOM chest X-rays.
	dir := t.TempDir()
	o := synth.DefaultOptions()
	o.Train, o.Val = synth.Counts{}, synth.Counts{}
	o.Test = synth.Counts{Normal: 2, Pneumonia: 2}
	o.MinSize, o.MaxSize = 520, 700
	o.DICOM = synth.DICOMOnly
	o.Seed = 5
	res, err := synth.Generate(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	var ids []string
	err = filepath.WalkDir(res.Root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".dcm" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		attrs, err := dicom.ReadAttributes(data, dicom.Options{})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		ids = append(ids, ingestor.DICOMRequestID(attrs.SOPInstanceUID))
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mw.Close()
	if len(ids) != 4 {
		t.Fatalf("%d DICOM files generated, want 4", len(ids))
	}
	resp, err := http.Post(base+"/dicom-web/studies", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary(), &body)
	if err != nil {
		t.Fatal(err)
	}
	stow, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "application/dicom+json") {
		t.Fatalf("STOW-RS: %s %s", resp.Status, stow)
	}
	bustest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		for _, id := range ids {
			r, err := http.Get(base + "/v1/requests/" + id)
			if err != nil {
				return err
			}
			var st struct {
				Results map[string]proto.InferenceResult `json:"results"`
			}
			err = json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
			if err != nil || r.StatusCode != http.StatusOK || len(st.Results) == 0 {
				return fmt.Errorf("request %s: %s, %v", id, r.Status, err)
			}
			for _, res := range st.Results {
				if res.Status != proto.StatusOK || !proto.ValidLabel(res.Label) {
					return fmt.Errorf("request %s: result %+v", id, res)
				}
			}
		}
		return nil
	})

	// Open Inference Protocol v2 on the experiment endpoint, with an image.
	jpegPath := filepath.Join(dataset(t, 2), "test", "PNEUMONIA")
	entries, err := os.ReadDir(jpegPath)
	if err != nil || len(entries) == 0 {
		t.Fatalf("test images: %v", err)
	}
	img, err := os.ReadFile(filepath.Join(jpegPath, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	before := totalPredictions(p)
	oip := fmt.Sprintf(`{"id":"oip-1","inputs":[{"name":"image_bytes","shape":[1],"datatype":"BYTES","data":[%q]}]}`, base64.StdEncoding.EncodeToString(img))
	resp, err = http.Post(base+"/v2/models/pneumonia/infer", "application/json", strings.NewReader(oip))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		ModelName string `json:"model_name"`
		ID        string `json:"id"`
		Outputs   []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 1 || out.ID != "oip-1" {
		t.Fatalf("OIP infer: %s %s", resp.Status, raw)
	}
	if p := out.Outputs[0].Data[0]; p < 0 || p > 1 {
		t.Fatalf("OIP probability %v", p)
	}

	// MLflow scoring with the seed's form: {"inputs": [64x64 array]} to the champion.
	var arr strings.Builder
	arr.WriteString(`{"inputs": [`)
	for r := range 64 {
		if r > 0 {
			arr.WriteByte(',')
		}
		arr.WriteByte('[')
		for c := range 64 {
			if c > 0 {
				arr.WriteByte(',')
			}
			fmt.Fprintf(&arr, "%.3f", float64((r+c)%7)/10-0.3)
		}
		arr.WriteByte(']')
	}
	arr.WriteString(`]}`)
	resp, err = http.Post(base+"/endpoints/champion/invocations", "application/json", strings.NewReader(arr.String()))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"predictions"`) || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("MLflow invocations: %s %s", resp.Status, raw)
	}
	// A bad tensor gets a problem+json naming the field.
	resp, err = http.Post(base+"/endpoints/champion/invocations", "application/json", strings.NewReader(`{"inputs": [[1,2],[3,4]]}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(raw), `"type"`) {
		t.Fatalf("bad tensor: %s %s %s", resp.Status, resp.Header.Get("Content-Type"), raw)
	}
	// The OIP prediction on the experiment endpoint is counted by the evaluator.
	bustest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if got := totalPredictions(p); got < before+1 {
			return fmt.Errorf("experiment predictions %d, want at least %d", got, before+1)
		}
		return nil
	})
}

func totalPredictions(p *platform.Platform) int {
	n := 0
	for _, m := range p.Evaluator.Snapshot("pneumonia").Models {
		n += m.Predictions
	}
	return n
}
