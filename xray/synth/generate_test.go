package synth

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"
)

// smallOptions is a quick data set: small images, a few per folder and
// enough label noise that some images are flipped.
func smallOptions() Options {
	o := DefaultOptions()
	o.Train = Counts{Normal: 5, Pneumonia: 6}
	o.Val = Counts{Normal: 2, Pneumonia: 2}
	o.Test = Counts{Normal: 3, Pneumonia: 4}
	o.MinSize, o.MaxSize = 160, 256
	o.LabelNoise = 0.2
	o.Seed = 7
	return o
}

func generate(t *testing.T, dir string, o Options) Result {
	t.Helper()
	res, err := Generate(t.Context(), dir, o)
	if err != nil {
		t.Fatalf("Generate(%s): %v", dir, err)
	}
	return res
}

// readTree returns every file under root by slash-separated relative path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return files
}

func sameTrees(t *testing.T, a, b map[string][]byte, what string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d files vs %d", what, len(a), len(b))
	}
	for name, data := range a {
		other, ok := b[name]
		if !ok {
			t.Fatalf("%s: %s missing in the second tree", what, name)
		}
		if !bytes.Equal(data, other) {
			t.Fatalf("%s: %s differs", what, name)
		}
	}
}

var (
	normalName    = regexp.MustCompile(`^(NORMAL2-)?IM-\d{4}-\d{4}\.jpeg$`)
	pneumoniaName = regexp.MustCompile(`^person\d+_(bacteria|virus)_\d+\.jpeg$`)
)

func TestLayoutNamesSizesManifest(t *testing.T) {
	o := smallOptions()
	dir := t.TempDir()
	res := generate(t, dir, o)
	if res.Written != o.Total() || res.Skipped != 0 || res.UpToDate {
		t.Fatalf("result = %+v, want %d written", res, o.Total())
	}
	root := filepath.Join(dir, Root)
	if res.Root != root {
		t.Errorf("Root = %s, want %s", res.Root, root)
	}
	tree := readTree(t, root)
	seen := map[string]string{} // base name -> path
	perFolder := map[string]int{}
	for p, data := range tree {
		if p == ManifestName {
			continue
		}
		split, class, name := filepath.Dir(filepath.Dir(p)), filepath.Base(filepath.Dir(p)), filepath.Base(p)
		perFolder[split+"/"+class]++
		switch class {
		case string(Normal):
			if !normalName.MatchString(name) {
				t.Errorf("%s: not a Kaggle NORMAL name", p)
			}
		case string(Pneumonia):
			if !pneumoniaName.MatchString(name) {
				t.Errorf("%s: not a Kaggle PNEUMONIA name", p)
			}
		default:
			t.Errorf("%s: unexpected file or folder", p)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("name %s used twice: %s and %s", name, prev, p)
		}
		seen[name] = p
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || format != "jpeg" {
			t.Fatalf("%s: decode: %v (%s)", p, err, format)
		}
		if cfg.ColorModel != color.GrayModel {
			t.Errorf("%s: color model %v, want gray", p, cfg.ColorModel)
		}
		if cfg.Width < o.MinSize || cfg.Width > o.MaxSize || cfg.Height < o.MinSize || cfg.Height > o.MaxSize {
			t.Errorf("%s: %dx%d outside [%d, %d]", p, cfg.Width, cfg.Height, o.MinSize, o.MaxSize)
		}
		if a := float64(cfg.Width) / float64(cfg.Height); a < 0.79 || a > 1.26 {
			t.Errorf("%s: aspect %.2f outside [0.8, 1.25]", p, a)
		}
	}
	for _, sp := range splits {
		c := o.counts(sp)
		if got := perFolder[string(sp)+"/NORMAL"]; got != c.Normal {
			t.Errorf("%s/NORMAL: %d files, want %d", sp, got, c.Normal)
		}
		if got := perFolder[string(sp)+"/PNEUMONIA"]; got != c.Pneumonia {
			t.Errorf("%s/PNEUMONIA: %d files, want %d", sp, got, c.Pneumonia)
		}
	}

	m, err := ReadManifest(root)
	if err != nil {
		t.Fatal(err)
	}
	if m.Generator != Version || m.Options.canonicalMust(t) != o.canonicalMust(t) {
		t.Errorf("manifest header = %s %+v", m.Generator, m.Options)
	}
	if len(m.Images) != o.Total() {
		t.Fatalf("manifest has %d images, want %d", len(m.Images), o.Total())
	}
	flipped := 0
	for _, r := range m.Images {
		data, ok := tree[r.File]
		if !ok {
			t.Fatalf("manifest file %s not written", r.File)
		}
		if want := string(r.Split) + "/" + string(r.Label) + "/"; r.File[:len(want)] != want {
			t.Errorf("%s: split/label %s/%s do not match the path", r.File, r.Split, r.Label)
		}
		if r.Flipped != (r.Label != r.Truth) {
			t.Errorf("%s: flipped=%v but label %s truth %s", r.File, r.Flipped, r.Label, r.Truth)
		}
		if r.Flipped {
			flipped++
		}
		cfg, _ := jpeg.DecodeConfig(bytes.NewReader(data))
		if cfg.Width != r.Width || cfg.Height != r.Height {
			t.Errorf("%s: manifest %dx%d, file %dx%d", r.File, r.Width, r.Height, cfg.Width, cfg.Height)
		}
		switch r.Truth {
		case Pneumonia:
			if r.Pattern == "" || len(r.Lesions) == 0 || (r.Subtype != Bacteria && r.Subtype != Virus) {
				t.Errorf("%s: pneumonia without pattern/lesions/subtype: %+v", r.File, r)
			}
			for _, l := range r.Lesions {
				if l.X <= 0 || l.X >= 1 || l.Y <= 0 || l.Y >= 1 || l.W <= 0 || l.H <= 0 {
					t.Errorf("%s: lesion outside the image: %+v", r.File, l)
				}
			}
		case Normal:
			if r.Pattern != "" || len(r.Lesions) != 0 || r.Subtle {
				t.Errorf("%s: normal image with lesions: %+v", r.File, r)
			}
		}
		if r.Difficulty < 0 || r.Difficulty > 1 || r.Severity < 0 || r.Severity > 1 {
			t.Errorf("%s: difficulty %v severity %v outside [0, 1]", r.File, r.Difficulty, r.Severity)
		}
	}
	if flipped == 0 {
		t.Errorf("no flipped image with label noise %v over %d images", o.LabelNoise, o.Total())
	}
}

func (o Options) canonicalMust(t *testing.T) string {
	t.Helper()
	c, err := o.canonical()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	o := smallOptions()
	a, b := t.TempDir(), t.TempDir()
	o.Workers = 1
	generate(t, a, o)
	o.Workers = 2
	generate(t, b, o)
	ta, tb := readTree(t, filepath.Join(a, Root)), readTree(t, filepath.Join(b, Root))
	sameTrees(t, ta, tb, "workers 1 vs 2")

	// A different seed changes the images.
	o.Seed++
	c := t.TempDir()
	generate(t, c, o)
	tc := readTree(t, filepath.Join(c, Root))
	same := 0
	for name, data := range ta {
		if bytes.Equal(data, tc[name]) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d files identical across seeds", same)
	}
}

func TestIdempotentAndRegenerate(t *testing.T) {
	o := smallOptions()
	dir := t.TempDir()
	root := filepath.Join(dir, Root)
	generate(t, dir, o)
	foreign := filepath.Join(root, "train", "NORMAL", "mine.jpeg")
	if err := os.WriteFile(foreign, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtimes := func() map[string]time.Time {
		m := map[string]time.Time{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				st, _ := d.Info()
				m[p] = st.ModTime()
			}
			return nil
		})
		return m
	}
	before := mtimes()
	time.Sleep(20 * time.Millisecond) // let a rewrite show in the modification times

	res := generate(t, dir, o)
	if !res.UpToDate || res.Written != 0 || res.Skipped != o.Total() {
		t.Fatalf("second run = %+v, want up to date", res)
	}
	after := mtimes()
	for p, mt := range before {
		if !after[p].Equal(mt) {
			t.Errorf("%s rewritten by an up-to-date run", p)
		}
	}

	// Different options: everything is rendered again.
	first := readTree(t, root)
	o.Quality = 70
	res = generate(t, dir, o)
	if res.UpToDate || res.Written != o.Total() {
		t.Fatalf("run with new quality = %+v, want all %d written", res, o.Total())
	}
	second := readTree(t, root)
	for name, data := range first {
		if name != ManifestName && filepath.Base(name) != "mine.jpeg" && bytes.Equal(data, second[name]) {
			t.Errorf("%s not regenerated after the quality changed", name)
		}
	}

	// Fewer images: files the new options do not produce are removed;
	// files we did not write stay.
	o.Train.Normal = 2
	generate(t, dir, o)
	entries, err := os.ReadDir(filepath.Join(root, "train", "NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 3 || !contains(names, "mine.jpeg") {
		t.Errorf("train/NORMAL after shrinking to 2 = %v, want 2 images plus mine.jpeg", names)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestCancelAndResume(t *testing.T) {
	o := smallOptions()
	o.Workers = 1
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stopAt := 6
	o.Progress = func(done, total int) {
		if done == stopAt {
			cancel()
		}
	}
	res, err := Generate(ctx, dir, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate after cancel = %v, want context.Canceled", err)
	}
	if res.Written < stopAt || res.Written >= o.Total() {
		t.Fatalf("cancelled run wrote %d, want between %d and %d", res.Written, stopAt, o.Total()-1)
	}
	root := filepath.Join(dir, Root)
	if _, err := os.Stat(filepath.Join(root, ManifestName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("manifest exists after a cancelled run (err %v)", err)
	}

	o.Progress = nil
	res2, err := Generate(t.Context(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Skipped != res.Written || res2.Written != o.Total()-res.Written {
		t.Errorf("resumed run = %+v, want %d kept and the rest written", res2, res.Written)
	}
	clean := t.TempDir()
	generate(t, clean, o)
	sameTrees(t, readTree(t, root), readTree(t, filepath.Join(clean, Root)), "resumed vs clean")
}

// TestLabelNoiseRate checks the share of flipped images, in both
// directions, and the share of subtle pneumonias, over many planned images
// (sampling the per-image decisions only, no rendering).
func TestLabelNoiseRate(t *testing.T) {
	for _, rate := range []float64{0, 0.02, 0.1} {
		o := DefaultOptions()
		o.Train = Counts{Normal: 6000, Pneumonia: 6000}
		o.Val, o.Test = Counts{}, Counts{}
		o.LabelNoise = rate
		o.SubtleShare = 0.3
		flips := map[Class]int{}
		pneu, subtle := 0, 0
		for _, s := range plan(o) {
			truth, flipped, _, sub := sampleMeta(o, s)
			if flipped {
				flips[s.folder]++
				if truth == s.folder {
					t.Fatal("flipped image with truth == folder")
				}
			}
			if truth == Pneumonia {
				pneu++
				if sub {
					subtle++
				}
			}
		}
		for _, c := range classes {
			n := 6000.0
			got := float64(flips[c]) / n
			sd := math.Sqrt(rate * (1 - rate) / n)
			if math.Abs(got-rate) > 4*sd+1e-9 {
				t.Errorf("rate %v: %s flipped share %.4f, want %.4f ± %.4f", rate, c, got, rate, 4*sd)
			}
		}
		share := float64(subtle) / float64(pneu)
		if math.Abs(share-0.3) > 4*math.Sqrt(0.3*0.7/float64(pneu)) {
			t.Errorf("subtle share %.3f, want 0.3", share)
		}
	}
}

func TestSampleSizeRange(t *testing.T) {
	r := newRand(1, 99)
	for _, rng := range [][2]int{{900, 2000}, {64, 64}, {300, 310}, {1000, 8192}} {
		for range 2000 {
			w, h := sampleSize(r, rng[0], rng[1])
			if w < rng[0] || w > rng[1] || h < rng[0] || h > rng[1] {
				t.Fatalf("size %dx%d outside %v", w, h, rng)
			}
			if a := float64(w) / float64(h); a < 0.8-1e-3 || a > 1.25+1e-3 {
				t.Fatalf("aspect %.3f outside [0.8, 1.25] for %v", a, rng)
			}
		}
	}
}

func TestRenderMatchesGenerate(t *testing.T) {
	o := smallOptions()
	dir := t.TempDir()
	generate(t, dir, o)
	m, err := ReadManifest(filepath.Join(dir, Root))
	if err != nil {
		t.Fatal(err)
	}
	r := m.Images[len(m.Images)-1]
	img, rec, err := Render(o, r.Split, r.Label, r.Index)
	if err != nil {
		t.Fatal(err)
	}
	if rec.File != r.File || rec.Seed != r.Seed || rec.Width != img.Rect.Dx() {
		t.Errorf("Render record %+v does not match manifest %+v", rec, r)
	}
	f, err := os.Open(filepath.Join(dir, Root, filepath.FromSlash(r.File)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	g := dec.(*image.Gray)
	if g.Rect != img.Rect {
		t.Fatalf("decoded %v, rendered %v", g.Rect, img.Rect)
	}
	var sum float64
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			d := float64(g.GrayAt(x, y).Y) - float64(img.GrayAt(x, y).Y)
			sum += d * d
		}
	}
	if rmse := math.Sqrt(sum / float64(len(img.Pix))); rmse > 4 {
		t.Errorf("JPEG differs from Render by RMSE %.2f", rmse)
	}
	if _, _, err := Render(o, Test, Normal, 99); err == nil {
		t.Error("Render out of range: no error")
	}
}

// TestKnobsConvertOnly: raising SubtleShare or LabelNoise changes only the
// images it converts; every other image keeps its exact scene.
func TestKnobsConvertOnly(t *testing.T) {
	base := DefaultOptions()
	base.Train = Counts{Normal: 150, Pneumonia: 150}
	base.Val, base.Test = Counts{}, Counts{}
	for _, tc := range []struct {
		name   string
		modify func(*Options)
	}{
		{"subtle share", func(o *Options) { o.SubtleShare = 0.5 }},
		{"label noise", func(o *Options) { o.LabelNoise = 0.2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.modify(&o)
			changed := 0
			for _, s := range plan(base) {
				a, b := sampleScene(base, s), sampleScene(o, s)
				if a.subtle != b.subtle || a.flipped != b.flipped {
					changed++
					continue
				}
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("%s: scene changed although the image was not converted", s.base)
				}
			}
			if changed == 0 {
				t.Error("no image converted")
			}
		})
	}
}
