package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Result summarises a Generate run.
type Result struct {
	Root     string // the chest_xray folder
	Images   int    // images in the data set
	Written  int    // images rendered and written by this run
	Skipped  int    // images already present from an earlier run with the same options
	UpToDate bool   // the data set was complete already; nothing was written
}

// Generate writes the data set described by o under out/chest_xray in the
// Kaggle layout, plus manifest.json. It is idempotent: if a complete data set
// with the same options (and generator version) is there, it returns at
// once with UpToDate set. An interrupted run with the same options is
// resumed, keeping the images it finished (files are written atomically via
// a temporary file and rename). Files listed by an earlier manifest or
// interrupted run that the new options do not produce are removed; other
// files in the folders are left alone.
//
// Images are rendered by o.Workers goroutines; the output does not depend on
// their number. Generate returns early with the context's error when ctx is
// cancelled.
func Generate(ctx context.Context, out string, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	canon, err := o.canonical()
	if err != nil {
		return Result{}, err
	}
	root := filepath.Join(out, Root)
	slots := plan(o)
	res := Result{Root: root, Images: len(slots)}
	want := map[string]bool{}
	var wantList []string
	for _, s := range slots {
		for _, f := range slotFiles(s, o.DICOM) {
			want[f] = true
			wantList = append(wantList, f)
		}
	}

	resume := false
	var stale []string
	if m, err := ReadManifest(root); err == nil {
		same := m.Generator == Version && sameOptions(m.Options, canon)
		if same && allExist(root, wantList) {
			res.Skipped, res.UpToDate = len(slots), true
			return res, nil
		}
		resume = resume || same
		for _, r := range m.Images {
			stale = append(stale, r.files()...)
		}
	}
	if p, err := readPartial(root); err == nil {
		resume = resume || (p.Generator == Version && sameOptions(p.Options, canon))
		stale = append(stale, p.Files...)
	}
	for _, f := range stale {
		if !want[f] && safeRel(f) {
			if err := os.Remove(filepath.Join(root, filepath.FromSlash(f))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, fmt.Errorf("remove stale %s: %w", f, err)
			}
		}
	}
	for _, sp := range splits {
		for _, cl := range classes {
			dir := filepath.Join(root, string(sp), string(cl))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return res, fmt.Errorf("create %s: %w", dir, err)
			}
			removeTemps(dir)
		}
	}
	if err := os.Remove(filepath.Join(root, ManifestName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("remove old manifest: %w", err)
	}
	pb, err := json.Marshal(partial{Generator: Version, Options: o, Files: wantList})
	if err != nil {
		return res, fmt.Errorf("encode %s: %w", partialName, err)
	}
	if err := writeAtomic(filepath.Join(root, partialName), pb); err != nil {
		return res, err
	}

	records := make([]ImageRecord, len(slots))
	written, skipped, err := runPool(ctx, o, root, slots, resume, records)
	res.Written, res.Skipped = written, skipped
	if err != nil {
		return res, err
	}

	m := Manifest{Generator: Version, Options: o, Images: records}
	mb, err := m.encode()
	if err != nil {
		return res, err
	}
	if err := writeAtomic(filepath.Join(root, ManifestName), mb); err != nil {
		return res, err
	}
	if err := os.Remove(filepath.Join(root, partialName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("remove %s: %w", partialName, err)
	}
	return res, nil
}

// runPool renders the slots with a bounded number of workers. With resume
// set, slots whose files all exist are not rendered again.
func runPool(ctx context.Context, o Options, root string, slots []slot, resume bool, records []ImageRecord) (written, skipped int, err error) {
	workers := o.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(slots))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var nWritten, nSkipped, nDone atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := worker{opts: o, root: root}
			for i := range jobs {
				if ctx.Err() != nil {
					continue // drain
				}
				rec, wrote, err := w.do(slots[i], resume)
				if err != nil {
					cancel(err)
					continue
				}
				records[i] = rec
				if wrote {
					nWritten.Add(1)
				} else {
					nSkipped.Add(1)
				}
				if o.Progress != nil {
					o.Progress(int(nDone.Add(1)), len(slots))
				}
			}
		}()
	}
feed:
	for i := range slots {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	written, skipped = int(nWritten.Load()), int(nSkipped.Load())
	if ctx.Err() != nil {
		return written, skipped, fmt.Errorf("generate: %w", context.Cause(ctx))
	}
	return written, skipped, nil
}

// worker holds one goroutine's reusable buffers.
type worker struct {
	opts Options
	root string
	rd   renderer
	img  *image.Gray
	buf  bytes.Buffer
}

func (w *worker) do(s slot, resume bool) (ImageRecord, bool, error) {
	sc := sampleScene(w.opts, s)
	rec := sc.record(w.opts.DICOM)
	files := rec.files()
	if resume && allExist(w.root, files) {
		return rec, false, nil
	}
	w.img = w.rd.render(sc, true, w.img)
	if rec.File != "" {
		w.buf.Reset()
		if err := jpeg.Encode(&w.buf, w.img, &jpeg.Options{Quality: w.opts.Quality}); err != nil {
			return rec, false, fmt.Errorf("encode %s: %w", rec.File, err)
		}
		if err := writeAtomic(filepath.Join(w.root, filepath.FromSlash(rec.File)), w.buf.Bytes()); err != nil {
			return rec, false, err
		}
	}
	if rec.DICOM != "" {
		w.buf.Reset()
		if err := writeDICOM(&w.buf, w.img, sc); err != nil {
			return rec, false, fmt.Errorf("encode %s: %w", rec.DICOM, err)
		}
		if err := writeAtomic(filepath.Join(w.root, filepath.FromSlash(rec.DICOM)), w.buf.Bytes()); err != nil {
			return rec, false, err
		}
	}
	return rec, true, nil
}

// Render draws one image of the data set described by o exactly as Generate
// does (before JPEG compression) and returns it with its manifest record.
func Render(o Options, split Split, folder Class, index int) (*image.Gray, ImageRecord, error) {
	if err := o.Validate(); err != nil {
		return nil, ImageRecord{}, err
	}
	n := o.counts(split).Normal
	if folder == Pneumonia {
		n = o.counts(split).Pneumonia
	}
	if (split != Train && split != Val && split != Test) || (folder != Normal && folder != Pneumonia) {
		return nil, ImageRecord{}, fmt.Errorf("render %s/%s: unknown split or class", split, folder)
	}
	if index < 0 || index >= n {
		return nil, ImageRecord{}, fmt.Errorf("render %s/%s index %d: out of range [0, %d)", split, folder, index, n)
	}
	for _, s := range plan(o) {
		if s.split == split && s.folder == folder && s.index == index {
			sc := sampleScene(o, s)
			var rd renderer
			return rd.render(sc, true, nil), sc.record(o.DICOM), nil
		}
	}
	return nil, ImageRecord{}, fmt.Errorf("render %s/%s index %d: not in plan", split, folder, index)
}

func slotFiles(s slot, mode DICOMMode) []string {
	var f []string
	if mode != DICOMOnly {
		f = append(f, s.rel(".jpeg"))
	}
	if mode != DICOMOff {
		f = append(f, s.rel(".dcm"))
	}
	return f
}

func sameOptions(o Options, canon string) bool {
	c, err := o.canonical()
	return err == nil && c == canon
}

func allExist(root string, files []string) bool {
	for _, f := range files {
		st, err := os.Stat(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			return false
		}
	}
	return true
}

// safeRel accepts only split/class/name paths, so a tampered manifest cannot
// make Generate delete files elsewhere.
func safeRel(f string) bool {
	parts := strings.Split(f, "/")
	if len(parts) != 3 || strings.HasPrefix(parts[2], ".") || strings.ContainsAny(parts[2], `\`) {
		return false
	}
	okSplit := parts[0] == string(Train) || parts[0] == string(Val) || parts[0] == string(Test)
	okClass := parts[1] == string(Normal) || parts[1] == string(Pneumonia)
	return okSplit && okClass
}

const tempPrefix = ".synth-tmp-"

// writeAtomic writes data to a temporary file in the target's folder and
// renames it into place, so readers never see a partial file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(0o644)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

// removeTemps deletes temporary files left by an interrupted run.
func removeTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
