package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Version identifies the generator's rendering model. It is stored in the
// manifest; output written by another version is regenerated. Change it
// whenever the pixels for given Options change.
const Version = "xray/synth/3"

// Manifest describes a generated data set. It is written last, so its
// presence means the data set is complete.
type Manifest struct {
	Generator string        `json:"generator"`
	Options   Options       `json:"options"`
	Images    []ImageRecord `json:"images"`
}

// ImageRecord describes one generated image.
type ImageRecord struct {
	File  string `json:"file,omitempty"`  // JPEG path relative to the chest_xray folder, slash-separated
	DICOM string `json:"dicom,omitempty"` // DICOM path, when written

	Split   Split  `json:"split"`
	Label   Class  `json:"label"`   // the class folder the file is in
	Truth   Class  `json:"truth"`   // what was rendered
	Flipped bool   `json:"flipped"` // label noise: Label != Truth
	Index   int    `json:"index"`   // index within (split, folder)
	Seed    uint64 `json:"seed"`    // the image's seed, derived from (Options.Seed, split, folder, index)

	Width  int `json:"width"`
	Height int `json:"height"`

	Subtype    string   `json:"subtype,omitempty"` // bacteria or virus (true pneumonia only)
	Pattern    string   `json:"pattern,omitempty"` // lesion kind of a true pneumonia image
	Subtle     bool     `json:"subtle"`            // fine-scale evidence only
	Severity   float64  `json:"severity"`          // 0..1, density-weighted extent of the lesions
	Difficulty float64  `json:"difficulty"`        // 0..1 heuristic: subtle evidence or disease-like anatomy
	Lesions    []Lesion `json:"lesions,omitempty"`
	Mimics     []string `json:"mimics,omitempty"` // hard-anatomy features (any label)
}

// Lesion locates one opacity. Coordinates are fractions of the image width
// (X, W) and height (Y, H); X, Y is the center of the bounding box.
type Lesion struct {
	Kind    string  `json:"kind"`
	Lung    string  `json:"lung"` // the patient's "right" (image left) or "left" lung
	Zone    string  `json:"zone,omitempty"`
	X       float64 `json:"x"`
	Y       float64 `json:"y"`
	W       float64 `json:"w"`
	H       float64 `json:"h"`
	Density float64 `json:"density"` // nominal peak added attenuation; rendering caps it at the lung air (about 0.5-0.7)
}

// record builds the manifest entry of a sampled scene.
func (sc *scene) record(mode DICOMMode) ImageRecord {
	rec := ImageRecord{
		Split:      sc.split,
		Label:      sc.folder,
		Truth:      sc.truth,
		Flipped:    sc.flipped,
		Index:      sc.index,
		Seed:       sc.key,
		Width:      sc.w,
		Height:     sc.h,
		Subtype:    sc.subtype,
		Pattern:    sc.pattern,
		Subtle:     sc.subtle,
		Severity:   round4(sc.severity),
		Difficulty: round4(sc.difficulty),
		Mimics:     sc.anat.mimics,
	}
	if mode != DICOMOnly {
		rec.File = sc.rel(".jpeg")
	}
	if mode != DICOMOff {
		rec.DICOM = sc.rel(".dcm")
	}
	for i := range sc.lesions {
		rec.Lesions = append(rec.Lesions, sc.lesionRecord(&sc.lesions[i]))
	}
	return rec
}

// files lists the record's files.
func (r ImageRecord) files() []string {
	var f []string
	if r.File != "" {
		f = append(f, r.File)
	}
	if r.DICOM != "" {
		f = append(f, r.DICOM)
	}
	return f
}

// ReadManifest reads the manifest of the data set in dir, the chest_xray
// folder (not its parent).
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", filepath.Join(dir, ManifestName), err)
	}
	return &m, nil
}

// encode writes the manifest as JSON with one image per line, so that it
// diffs and greps well and stays valid JSON.
func (m *Manifest) encode() ([]byte, error) {
	var buf bytes.Buffer
	opts, err := json.Marshal(m.Options)
	if err != nil {
		return nil, fmt.Errorf("encode options: %w", err)
	}
	gen, _ := json.Marshal(m.Generator)
	fmt.Fprintf(&buf, "{\n\"generator\": %s,\n\"options\": %s,\n\"images\": [", gen, opts)
	for i, r := range m.Images {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode record %s: %w", r.File, err)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n")
		buf.Write(b)
	}
	buf.WriteString("\n]\n}\n")
	return buf.Bytes(), nil
}

// partialName marks an unfinished run; it lists the options and the files
// that run planned, so that the next run can resume or clean up.
const partialName = ".synth-partial.json"

type partial struct {
	Generator string   `json:"generator"`
	Options   Options  `json:"options"`
	Files     []string `json:"files"`
}

func readPartial(dir string) (*partial, error) {
	b, err := os.ReadFile(filepath.Join(dir, partialName))
	if err != nil {
		return nil, err
	}
	var p partial
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse %s: %w", partialName, err)
	}
	return &p, nil
}
