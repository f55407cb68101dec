package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthcare-ai/platform/xray/dataset"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

// tensorsChunk is how many images are decoded in parallel before they are
// written in order; it bounds memory to tensorsChunk tensors.
const tensorsChunk = 256

// runTensors exports a data set in the Kaggle layout as NumPy arrays for
// training, preprocessed exactly as serving does (preprocess.Spec.Decode):
// for each split <split>_x.npy (float32 [N,1,H,W]), <split>_y.npy (uint8 [N],
// 0 = NORMAL, 1 = PNEUMONIA) and <split>_index.json, then fingerprint.json.
func runTensors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tensors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		data    = fs.String("data", "", "data set root in the Kaggle layout: train|val|test/NORMAL|PNEUMONIA/*.jpeg (required)")
		out     = fs.String("out", "", "output folder (required)")
		size    = fs.Int("size", 64, "output width and height in pixels")
		width   = fs.Int("width", 0, "output width in pixels (overrides -size)")
		height  = fs.Int("height", 0, "output height in pixels (overrides -size)")
		mean    = fs.Float64("mean", 0, "normalisation: subtracted after scaling to [0,1]")
		std     = fs.Float64("std", 1, "normalisation: divides after subtracting the mean")
		splits  = fs.String("splits", "", "comma-separated splits to export (default: every split present)")
		workers = fs.Int("workers", runtime.GOMAXPROCS(0), "images decoded in parallel")
		strict  = fs.Bool("strict", false, "fail if any file is rejected instead of leaving it out")
	)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: hap tensors -data <root> -out <dir> [flags]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return fmt.Errorf("%w: -data and -out are required", errUsage)
	}
	if *workers < 1 {
		return fmt.Errorf("%w: -workers %d: must be at least 1", errUsage, *workers)
	}
	spec := preprocess.DefaultSpec(*size)
	if *width > 0 {
		spec.Width = *width
	}
	if *height > 0 {
		spec.Height = *height
	}
	spec.Mean, spec.Std = float32(*mean), float32(*std)
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	ds, err := dataset.Load(ctx, *data, dataset.Options{Workers: *workers})
	if err != nil {
		return err
	}
	if ds.Layout != dataset.LayoutKaggle {
		return fmt.Errorf("data %s: no train, val or test folders; tensors needs the labelled Kaggle layout", *data)
	}
	want := ds.Splits()
	if *splits != "" {
		want = nil
		for _, s := range strings.Split(*splits, ",") {
			s = strings.TrimSpace(s)
			if slices.Contains(want, s) {
				return fmt.Errorf("%w: -splits: split %q listed twice", errUsage, s)
			}
			want = append(want, s)
			if !slices.Contains(ds.Splits(), s) {
				return fmt.Errorf("%w: -splits: split %q has no images in %s (present: %s)", errUsage, s, ds.Root, strings.Join(ds.Splits(), ", "))
			}
		}
	}
	if len(want) == 0 {
		return fmt.Errorf("data %s: no images", ds.Root)
	}
	// Rejects inside the exported splits, or outside every split (a stray
	// file at the data root); those of other splits do not concern this
	// export.
	var rejects []dataset.Reject
	for _, r := range ds.Rejects {
		first, _, _ := strings.Cut(r.Rel, "/")
		if slices.Contains(want, first) || !slices.Contains(dataset.SplitNames(), first) {
			rejects = append(rejects, r)
			fmt.Fprintf(stderr, "reject %s\n", r)
		}
	}
	if *strict && len(rejects) > 0 {
		return fmt.Errorf("%d files rejected (-strict)", len(rejects))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}

	fp := tensorFingerprint{
		Recipe: "dataset_sha256 is the SHA-256 of the lines \"<file sha256 hex>  <path>\\n\" of every exported file, " +
			"sorted by path in byte order, paths relative to the data root with / separators " +
			"(the output of sha256sum over the sorted file list, run in the data root)",
		Spec:    spec,
		Splits:  map[string]tensorSplitSummary{},
		Outputs: map[string]string{},
	}
	var manifest []tensorFileSum
	for _, split := range want {
		start := time.Now()
		ex, err := exportSplit(ctx, spec, ds.Split(split), split, *out, *workers)
		if err != nil {
			return err
		}
		for _, r := range ex.index.Rejects {
			fmt.Fprintf(stderr, "reject %s\n", r)
		}
		if *strict && len(ex.index.Rejects) > 0 {
			return fmt.Errorf("split %s: %d files rejected (-strict)", split, len(ex.index.Rejects))
		}
		rejects = append(rejects, ex.index.Rejects...)
		manifest = append(manifest, ex.files...)
		fp.Splits[split] = tensorSplitSummary{N: ex.index.N, SHA256: ex.index.SHA256}
		fp.Outputs[ex.index.X] = ex.xSum
		fp.Outputs[ex.index.Y] = ex.ySum
		fp.Outputs[split+"_index.json"] = ex.indexSum
		fmt.Fprintf(stdout, "%s: %d images -> %s %v float32, %s [%d] uint8 (%s; %s)\n", split, ex.index.N,
			filepath.Join(*out, ex.index.X), ex.index.XShape, filepath.Join(*out, ex.index.Y), ex.index.N,
			decoderSummary(ex.index.Decoders), time.Since(start).Round(time.Millisecond))
	}
	fp.Files = len(manifest)
	fp.DatasetSHA256 = tensorManifestSum(manifest)
	fp.Rejects = rejects
	if fp.Rejects == nil {
		fp.Rejects = []dataset.Reject{}
	}
	if _, err := writeTensorJSON(filepath.Join(*out, "fingerprint.json"), fp); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "data set sha256 %s (%d files, %d rejected) -> %s\n", fp.DatasetSHA256, fp.Files, len(rejects), filepath.Join(*out, "fingerprint.json"))
	return nil
}

func decoderSummary(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d decoded by %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// tensorFingerprint is fingerprint.json.
type tensorFingerprint struct {
	DatasetSHA256 string                        `json:"dataset_sha256"`
	Recipe        string                        `json:"recipe"`
	Files         int                           `json:"files"`
	Spec          preprocess.Spec               `json:"spec"`
	Splits        map[string]tensorSplitSummary `json:"splits"`
	Outputs       map[string]string             `json:"outputs"` // file name -> sha256 of the written file
	Rejects       []dataset.Reject              `json:"rejects"`
}

type tensorSplitSummary struct {
	N      int    `json:"n"`
	SHA256 string `json:"sha256"` // dataset_sha256 recipe over this split's files
}

// tensorSplitIndex is <split>_index.json.
type tensorSplitIndex struct {
	Split    string            `json:"split"`
	N        int               `json:"n"`
	X        string            `json:"x"`
	XShape   []int             `json:"x_shape"`
	Y        string            `json:"y"`
	Classes  []string          `json:"classes"` // y value -> class name
	Spec     preprocess.Spec   `json:"spec"`
	SHA256   string            `json:"sha256"` // of the files, see fingerprint.json recipe
	Decoders map[string]int    `json:"decoders"`
	Items    []tensorIndexItem `json:"items"` // row i of x and y
	Rejects  []dataset.Reject  `json:"rejects"`
}

type tensorIndexItem struct {
	Path    string            `json:"path"`
	Label   int               `json:"label"`
	SHA256  string            `json:"sha256"`
	Format  preprocess.Format `json:"format"`
	Width   int               `json:"width"`
	Height  int               `json:"height"`
	Decoder string            `json:"decoder"`
}

type tensorFileSum struct{ rel, sum string }

// tensorManifestSum is the SHA-256 of sha256sum-style lines sorted by path.
func tensorManifestSum(files []tensorFileSum) string {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b tensorFileSum) int { return strings.Compare(a.rel, b.rel) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s  %s\n", f.sum, f.rel)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type tensorExport struct {
	index                tensorSplitIndex
	files                []tensorFileSum
	xSum, ySum, indexSum string
}

// exportSplit decodes the items of one split in parallel, in chunks, and
// writes them in order. Items that fail to decode are left out and
// reported in the index's rejects.
func exportSplit(ctx context.Context, spec preprocess.Spec, items []dataset.Item, split, outDir string, workers int) (*tensorExport, error) {
	ex := &tensorExport{index: tensorSplitIndex{
		Split: split, X: split + "_x.npy", Y: split + "_y.npy",
		Classes: []string{dataset.Normal.String(), dataset.Pneumonia.String()},
		Spec:    spec, Decoders: map[string]int{}, Items: []tensorIndexItem{}, Rejects: []dataset.Reject{},
	}}
	// The tensors go to a scratch file first: the .npy header needs the
	// final count, known only after decoding.
	raw, err := os.CreateTemp(outDir, "."+split+"_x.*.raw")
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", split, err)
	}
	defer func() { raw.Close(); os.Remove(raw.Name()) }()
	rawW := bufio.NewWriterSize(raw, 1<<20)

	n := spec.Len()
	type slot struct {
		res preprocess.Result
		sum [32]byte
		err error
	}
	buf := make([]float32, tensorsChunk*n)
	slots := make([]slot, tensorsChunk)
	var labels []byte
	var enc []byte
	for lo := 0; lo < len(items); lo += tensorsChunk {
		chunk := items[lo:min(lo+tensorsChunk, len(items))]
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(workers, len(chunk)) {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(chunk) || ctx.Err() != nil {
						return
					}
					s := &slots[i]
					data, err := os.ReadFile(chunk[i].Path)
					if err != nil {
						*s = slot{err: err}
						continue
					}
					s.sum = sha256.Sum256(data)
					s.res, s.err = spec.DecodeInto(buf[i*n:(i+1)*n], data)
				}
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("split %s: %w", split, err)
		}
		for i, it := range chunk {
			s := &slots[i]
			if s.err != nil {
				reason := dataset.ReasonCorrupt
				if errors.Is(s.err, preprocess.ErrTooLarge) {
					reason = dataset.ReasonTooLarge
				} else if errors.Is(s.err, preprocess.ErrFormat) {
					reason = dataset.ReasonNotImage
				} else if !errors.Is(s.err, preprocess.ErrCorrupt) {
					reason = dataset.ReasonUnreadable
				}
				ex.index.Rejects = append(ex.index.Rejects, dataset.Reject{Path: it.Path, Rel: it.Rel, Reason: reason, Detail: s.err.Error()})
				continue
			}
			enc = appendFloat32LE(enc[:0], s.res.Tensor)
			if _, err := rawW.Write(enc); err != nil {
				return nil, fmt.Errorf("split %s: write tensors: %w", split, err)
			}
			labels = append(labels, byte(it.Label))
			sum := hex.EncodeToString(s.sum[:])
			ex.files = append(ex.files, tensorFileSum{it.Rel, sum})
			ex.index.Decoders[s.res.Path.String()]++
			ex.index.Items = append(ex.index.Items, tensorIndexItem{
				Path: it.Rel, Label: int(it.Label), SHA256: sum, Format: s.res.Format,
				Width: s.res.Width, Height: s.res.Height, Decoder: s.res.Path.String(),
			})
		}
	}
	if err := rawW.Flush(); err != nil {
		return nil, fmt.Errorf("split %s: write tensors: %w", split, err)
	}
	if _, err := raw.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("split %s: %w", split, err)
	}
	count := len(labels)
	ex.index.N = count
	ex.index.XShape = []int{count, spec.Channels, spec.Height, spec.Width}
	ex.index.SHA256 = tensorManifestSum(ex.files)
	if ex.xSum, err = writeNpyFile(filepath.Join(outDir, ex.index.X), "<f4", ex.index.XShape, raw); err != nil {
		return nil, err
	}
	if ex.ySum, err = writeNpyFile(filepath.Join(outDir, ex.index.Y), "|u1", []int{count}, bytes.NewReader(labels)); err != nil {
		return nil, err
	}
	if ex.indexSum, err = writeTensorJSON(filepath.Join(outDir, split+"_index.json"), ex.index); err != nil {
		return nil, err
	}
	return ex, nil
}

// appendFloat32LE appends v as little-endian IEEE 754 float32 values.
func appendFloat32LE(b []byte, v []float32) []byte {
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

// npyHeader returns the header of a NumPy .npy file, format version 1.0,
// for a C-order array with the given dtype descr ("<f4", "|u1") and shape.
// The header is padded with spaces and ends with a newline so that the data
// starts at a multiple of 64 bytes, as numpy writes it.
func npyHeader(descr string, shape []int) []byte {
	var s strings.Builder
	s.WriteString("(")
	for i, d := range shape {
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		s.WriteString(",")
	}
	s.WriteString(")")
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, s.String())
	const pre = 6 + 2 + 2 // magic, version, header length
	total := (pre + len(dict) + 1 + 63) / 64 * 64
	h := make([]byte, 0, total)
	h = append(h, "\x93NUMPY\x01\x00"...)
	h = binary.LittleEndian.AppendUint16(h, uint16(total-pre))
	h = append(h, dict...)
	for len(h) < total-1 {
		h = append(h, ' ')
	}
	return append(h, '\n')
}

// writeNpyFile writes header and data to a temporary file and renames it to
// name once complete; it returns the SHA-256 of the file.
func writeNpyFile(name, descr string, shape []int, data io.Reader) (string, error) {
	return writeTensorFile(name, func(w io.Writer) error {
		if _, err := w.Write(npyHeader(descr, shape)); err != nil {
			return err
		}
		_, err := io.Copy(w, data)
		return err
	})
}

func writeTensorJSON(name string, v any) (string, error) {
	return writeTensorFile(name, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	})
}

// writeTensorFile writes through a temporary file in the same folder and
// renames it, so a reader never sees a partial file. It returns the SHA-256
// of what was written.
func writeTensorFile(name string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
