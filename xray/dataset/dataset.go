// Package dataset loads a chest X-ray image collection from disk, checks every
// file and reports what it found.
//
// Two layouts are recognised:
//
//   - Kaggle ("Chest X-Ray Images (Pneumonia)"):
//     root/{train,val,test}/{NORMAL,PNEUMONIA}/*.{jpeg,jpg,png}. The same
//     tree one level down, root/chest_xray/..., as unpacked from the Kaggle
//     archive, is accepted too. The folder holding the splits is the data
//     root (Dataset.Root); relative paths start there.
//   - Flat: a folder of images, with no split and no label.
//
// Every image is checked (header, dimensions, end-of-image marker; a full
// decode with Options.FullDecode) and files that fail are collected as
// rejects with the reason instead of failing the load. Operating-system
// litter (names starting with ".", such as .DS_Store, __MACOSX folders,
// Thumbs.db, desktop.ini) is skipped silently; any other unexpected file or
// folder is a reject. Items and rejects come in a deterministic order: by
// split (train, val, test), then by relative path.
package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/healthcare-ai/platform/xray/preprocess"
)

// Split names of the Kaggle layout.
const (
	Train = "train"
	Val   = "val"
	Test  = "test"
)

// SplitNames returns the split names in their canonical order.
func SplitNames() []string { return []string{Train, Val, Test} }

func splitRank(s string) int {
	switch s {
	case Train:
		return 0
	case Val:
		return 1
	case Test:
		return 2
	}
	return 3
}

// Label is the class of an image, from its folder. Its value is the training
// target (0 or 1).
type Label int8

// Labels.
const (
	Unlabeled Label = -1
	Normal    Label = 0
	Pneumonia Label = 1
)

// String is the folder name of the label ("NORMAL", "PNEUMONIA"), or
// "unlabeled".
func (l Label) String() string {
	switch l {
	case Normal:
		return "NORMAL"
	case Pneumonia:
		return "PNEUMONIA"
	case Unlabeled:
		return "unlabeled"
	}
	return fmt.Sprintf("label(%d)", int(l))
}

// MarshalText encodes the label as its String.
func (l Label) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses "NORMAL", "PNEUMONIA" or "unlabeled".
func (l *Label) UnmarshalText(b []byte) error {
	if string(b) == Unlabeled.String() {
		*l = Unlabeled
		return nil
	}
	v, ok := labelOfFolder(string(b))
	if !ok {
		return fmt.Errorf("label %q: must be NORMAL, PNEUMONIA or unlabeled", b)
	}
	*l = v
	return nil
}

func labelOfFolder(name string) (Label, bool) {
	switch name {
	case "NORMAL":
		return Normal, true
	case "PNEUMONIA":
		return Pneumonia, true
	}
	return Unlabeled, false
}

// Layout is the folder layout that Load found.
type Layout string

// Layouts.
const (
	LayoutKaggle Layout = "kaggle"
	LayoutFlat   Layout = "flat"
)

// Item is one accepted image.
type Item struct {
	Path   string            `json:"-"`      // file path (Root joined with Rel)
	Rel    string            `json:"path"`   // slash-separated path relative to Dataset.Root
	Split  string            `json:"split"`  // "train", "val", "test", or "" (flat layout)
	Label  Label             `json:"label"`  // Unlabeled in the flat layout
	Format preprocess.Format `json:"format"` // from the file content, not its name
	Width  int               `json:"width"`
	Height int               `json:"height"`
	Size   int64             `json:"size"` // bytes
}

// Reason classifies a reject.
type Reason string

// Reject reasons.
const (
	ReasonUnreadable Reason = "unreadable"   // cannot be read from disk
	ReasonEmpty      Reason = "empty"        // zero bytes
	ReasonNotImage   Reason = "not-an-image" // neither JPEG nor PNG content
	ReasonCorrupt    Reason = "corrupt"      // bad header, truncated or undecodable data
	ReasonTooSmall   Reason = "too-small"    // a side below Options.MinSide
	ReasonTooLarge   Reason = "too-large"    // a side above Options.MaxSide, or too many pixels
	ReasonUnexpected Reason = "unexpected"   // a file or folder that has no place in the layout
)

// Reject is a file or folder that Load did not accept.
type Reject struct {
	Path   string `json:"-"`
	Rel    string `json:"path"`
	Reason Reason `json:"reason"`
	Detail string `json:"detail"`
}

func (r Reject) String() string {
	return fmt.Sprintf("%s: %s: %s", r.Rel, r.Reason, r.Detail)
}

// Options controls Load. The zero value is usable.
type Options struct {
	// FullDecode decodes every image (at 1/8 scale with libjpeg-turbo when
	// available) instead of checking only the header and the end marker.
	FullDecode bool
	// MinSide rejects images with a side shorter than this; 0 means
	// DefaultMinSide.
	MinSide int
	// MaxSide rejects images with a side longer than this; 0 means
	// preprocess.MaxDimension.
	MaxSide int
	// Workers is the number of files checked in parallel; 0 means
	// GOMAXPROCS.
	Workers int
}

// DefaultMinSide is the default Options.MinSide: smaller files are icons or
// thumbnails, not radiographs.
const DefaultMinSide = 32

// Dataset is the result of Load.
type Dataset struct {
	Root    string   // folder holding the splits (Kaggle) or the images (flat)
	Layout  Layout   // LayoutKaggle or LayoutFlat
	Items   []Item   // accepted images, by split then relative path
	Rejects []Reject // by split then relative path
	Ignored []string // relative paths of skipped operating-system files
}

// Load scans root, checks every image and returns the data set. It fails
// only when root itself cannot be read or ctx ends; problems with single
// files become Rejects.
func Load(ctx context.Context, root string, opts Options) (*Dataset, error) {
	if opts.MinSide <= 0 {
		opts.MinSide = DefaultMinSide
	}
	if opts.MaxSide <= 0 {
		opts.MaxSide = preprocess.MaxDimension
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("load data set: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("load data set %s: not a directory", root)
	}
	s := &scan{ds: &Dataset{Root: root, Layout: LayoutFlat}}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("load data set: %w", err)
	}
	switch {
	case hasSplit(root, entries):
		s.ds.Layout = LayoutKaggle
	case isDir(filepath.Join(root, "chest_xray")) && hasSplit(filepath.Join(root, "chest_xray"), readDirQuiet(filepath.Join(root, "chest_xray"))):
		// The Kaggle archive's extra level. Siblings of chest_xray are not
		// part of the data set and are not looked at.
		s.ds.Root = filepath.Join(root, "chest_xray")
		s.ds.Layout = LayoutKaggle
		if entries, err = os.ReadDir(s.ds.Root); err != nil {
			return nil, fmt.Errorf("load data set: %w", err)
		}
	}
	if s.ds.Layout == LayoutKaggle {
		s.walkKaggle(entries)
	} else {
		s.walkImages("", "", Unlabeled, entries)
	}
	if err := s.check(ctx, opts); err != nil {
		return nil, err
	}
	return s.ds, nil
}

// scan is the state of one Load.
type scan struct {
	ds    *Dataset
	cands []Item // files to check; Format, Width, Height not yet known
}

func (s *scan) reject(rel string, reason Reason, format string, args ...any) {
	s.ds.Rejects = append(s.ds.Rejects, Reject{
		Path: filepath.Join(s.ds.Root, filepath.FromSlash(rel)), Rel: rel,
		Reason: reason, Detail: fmt.Sprintf(format, args...),
	})
}

// ignorable reports operating-system litter that Load skips silently.
// ManifestFile is the data set description the synthetic generator writes at
// the root of the Kaggle layout; the loader skips it like an operating-system
// file instead of rejecting it.
const ManifestFile = "manifest.json"

func ignorable(name string) bool {
	return strings.HasPrefix(name, ".") || name == "__MACOSX" || strings.EqualFold(name, "Thumbs.db") || strings.EqualFold(name, "desktop.ini")
}

func hasSplit(dir string, entries []fs.DirEntry) bool {
	for _, e := range entries {
		if splitRank(e.Name()) < 3 && isDir(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Stat(p) // follows symbolic links
	return err == nil && st.IsDir()
}

func readDirQuiet(dir string) []fs.DirEntry {
	e, _ := os.ReadDir(dir)
	return e
}

func (s *scan) walkKaggle(entries []fs.DirEntry) {
	for _, e := range entries {
		name := e.Name()
		switch {
		case ignorable(name) || name == ManifestFile:
			s.ds.Ignored = append(s.ds.Ignored, name)
		case splitRank(name) < 3 && isDir(filepath.Join(s.ds.Root, name)):
			s.walkSplit(name)
		case isDir(filepath.Join(s.ds.Root, name)):
			s.reject(name, ReasonUnexpected, "unexpected folder (expected train, val or test)")
		default:
			s.reject(name, ReasonUnexpected, "unexpected file (expected the folders train, val and test)")
		}
	}
}

func (s *scan) walkSplit(split string) {
	entries, err := os.ReadDir(filepath.Join(s.ds.Root, split))
	if err != nil {
		s.reject(split, ReasonUnreadable, "%v", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		rel := path.Join(split, name)
		label, isLabel := labelOfFolder(name)
		switch {
		case ignorable(name):
			s.ds.Ignored = append(s.ds.Ignored, rel)
		case isLabel && isDir(filepath.Join(s.ds.Root, split, name)):
			sub, err := os.ReadDir(filepath.Join(s.ds.Root, split, name))
			if err != nil {
				s.reject(rel, ReasonUnreadable, "%v", err)
				continue
			}
			s.walkImages(rel, split, label, sub)
		case isDir(filepath.Join(s.ds.Root, split, name)):
			s.reject(rel, ReasonUnexpected, "unexpected folder (expected NORMAL or PNEUMONIA)")
		default:
			s.reject(rel, ReasonUnexpected, "unexpected file (expected the folders NORMAL and PNEUMONIA)")
		}
	}
}

// imageExt reports whether name has an image extension that Load accepts.
func imageExt(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpeg", ".jpg", ".png":
		return true
	}
	return false
}

// walkImages adds the images of one folder (rel relative to Root).
func (s *scan) walkImages(rel, split string, label Label, entries []fs.DirEntry) {
	for _, e := range entries {
		name := e.Name()
		r := path.Join(rel, name)
		p := filepath.Join(s.ds.Root, filepath.FromSlash(r))
		switch {
		case ignorable(name):
			s.ds.Ignored = append(s.ds.Ignored, r)
		case isDir(p):
			if rel == "" {
				s.reject(r, ReasonUnexpected, "unexpected folder (expected images, or the folders train, val and test)")
			} else {
				s.reject(r, ReasonUnexpected, "unexpected folder (expected images)")
			}
		case !imageExt(name):
			s.reject(r, ReasonUnexpected, "unexpected file: extension %q is not .jpeg, .jpg or .png", path.Ext(name))
		default:
			s.cands = append(s.cands, Item{Path: p, Rel: r, Split: split, Label: label})
		}
	}
}

// check validates the candidates in parallel and sorts the results.
func (s *scan) check(ctx context.Context, opts Options) error {
	rejects := make([]*Reject, len(s.cands))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Workers, max(1, len(s.cands))) {
		wg.Go(func() {
			for i := range next {
				rejects[i] = checkItem(&s.cands[i], opts)
			}
		})
	}
	var err error
feed:
	for i := range s.cands {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("load data set %s: %w", s.ds.Root, err)
	}
	for i, r := range rejects {
		if r != nil {
			s.ds.Rejects = append(s.ds.Rejects, *r)
		} else {
			s.ds.Items = append(s.ds.Items, s.cands[i])
		}
	}
	byOrder := func(splitA, relA, splitB, relB string) int {
		if c := splitRank(splitA) - splitRank(splitB); c != 0 {
			return c
		}
		return strings.Compare(relA, relB)
	}
	slices.SortFunc(s.ds.Items, func(a, b Item) int { return byOrder(a.Split, a.Rel, b.Split, b.Rel) })
	slices.SortFunc(s.ds.Rejects, func(a, b Reject) int {
		return byOrder(firstElem(a.Rel), a.Rel, firstElem(b.Rel), b.Rel)
	})
	slices.Sort(s.ds.Ignored)
	return nil
}

func firstElem(rel string) string {
	first, _, _ := strings.Cut(rel, "/")
	return first
}

// headBytes is how much of a file checkItem reads for the header check; a
// file whose header does not fit (large EXIF or ICC blocks) is read whole.
const headBytes = 64 << 10

// checkItem reads and checks one file, filling it in; it returns a reject
// or nil. Without FullDecode it reads only the head and the tail of the file.
func checkItem(it *Item, opts Options) *Reject {
	rej := func(reason Reason, format string, args ...any) *Reject {
		return &Reject{Path: it.Path, Rel: it.Rel, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	head, tail, size, err := readHeadTail(it.Path, opts.FullDecode)
	if err != nil {
		return rej(ReasonUnreadable, "%v", err)
	}
	it.Size = size
	if size == 0 {
		return rej(ReasonEmpty, "empty file (0 bytes)")
	}
	info, err := preprocess.Probe(head)
	if err != nil && int64(len(head)) < size && !errors.Is(err, preprocess.ErrFormat) {
		if head, err = os.ReadFile(it.Path); err != nil {
			return rej(ReasonUnreadable, "%v", err)
		}
		info, err = preprocess.Probe(head)
	}
	switch {
	case errors.Is(err, preprocess.ErrFormat):
		return rej(ReasonNotImage, "%v", err)
	case errors.Is(err, preprocess.ErrTooLarge):
		return rej(ReasonTooLarge, "%v", err)
	case err != nil:
		return rej(ReasonCorrupt, "%v", err)
	}
	it.Format, it.Width, it.Height = info.Format, info.Width, info.Height
	if info.Width < opts.MinSide || info.Height < opts.MinSide {
		return rej(ReasonTooSmall, "%dx%d: smaller than %d pixels per side", info.Width, info.Height, opts.MinSide)
	}
	if info.Width > opts.MaxSide || info.Height > opts.MaxSide {
		return rej(ReasonTooLarge, "%dx%d: larger than %d pixels per side", info.Width, info.Height, opts.MaxSide)
	}
	if opts.FullDecode {
		if _, err := preprocess.DefaultSpec(8).Decode(head); err != nil {
			return rej(ReasonCorrupt, "%v", err)
		}
	} else if msg := checkEnd(info.Format, tail); msg != "" {
		return rej(ReasonCorrupt, "%s", msg)
	}
	return nil
}

// readHeadTail returns the first headBytes and the last tailBytes of a file
// (the whole file as head when whole is set or the file is small) and its size.
func readHeadTail(name string, whole bool) (head, tail []byte, size int64, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, 0, err
	}
	size = st.Size()
	if whole || size <= headBytes {
		head, err = io.ReadAll(f)
		return head, head, int64(len(head)), err
	}
	head = make([]byte, headBytes)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, nil, 0, err
	}
	tail = make([]byte, min(tailBytes, size))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return nil, nil, 0, err
	}
	return head, tail, size, nil
}

// tailBytes is the window at the end of a file searched for the end marker;
// some writers pad files after it.
const tailBytes = 4096

// checkEnd looks for the end marker near the end of the file: a JPEG's EOI
// (FF D9, which cannot occur inside entropy-coded data) or a PNG's IEND
// chunk. Some writers pad files after the marker, hence the window.
func checkEnd(f preprocess.Format, data []byte) string {
	tail := data[max(0, len(data)-tailBytes):]
	switch f {
	case preprocess.JPEG:
		if !bytes.Contains(tail, []byte{0xFF, 0xD9}) {
			return "jpeg: no end-of-image marker (truncated file?)"
		}
	case preprocess.PNG:
		if !bytes.Contains(tail, []byte("IEND")) {
			return "png: no IEND chunk (truncated file?)"
		}
	}
	return ""
}
