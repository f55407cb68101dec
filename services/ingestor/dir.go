package ingestor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// DirOptions tune IngestDir.
type DirOptions struct {
	// Concurrency is the number of files in flight (default
	// Config.DirConcurrency).
	Concurrency int
	// Extensions lists the file extensions ingested, compared without case
	// (default .jpeg, .jpg, .png, .dcm). Other files are counted as Skipped
	// and logged, not rejected.
	Extensions []string
	// Only, when set, selects the files to ingest by their path relative to
	// root (slash-separated); the others are neither ingested nor counted.
	Only func(rel string) bool
}

// Summary counts what IngestDir did. Files = Accepted + rejected + Failed.
type Summary struct {
	Root  string `json:"root"`
	Files int    `json:"files"` // candidate image files found
	// Accepted images were stored and announced (or had been already).
	Accepted int `json:"accepted"`
	// Rejected counts rejected files by reason code (proto.Reject*).
	Rejected map[string]int `json:"rejected"`
	// Duplicates counts events (accepted or rejected) that JetStream already
	// held from an earlier run: de-duplicated, not stored twice.
	Duplicates int `json:"duplicates"`
	// Skipped counts files without an image extension.
	Skipped int `json:"skipped"`
	// Failed counts files that could not be processed (unreadable, blob
	// store or NATS down); IngestDir returns an error naming them. Ingesting
	// the folder again retries them.
	Failed   int           `json:"failed"`
	Duration time.Duration `json:"-"`
}

// RejectedTotal is the number of rejected files.
func (s Summary) RejectedTotal() int {
	n := 0
	for _, c := range s.Rejected {
		n += c
	}
	return n
}

func (s Summary) String() string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(s.Rejected)) {
		parts = append(parts, fmt.Sprintf("%s=%d", code, s.Rejected[code]))
	}
	return fmt.Sprintf("%d files: %d accepted, %d rejected [%s], %d failed, %d duplicates, %d skipped, in %s",
		s.Files, s.Accepted, s.RejectedTotal(), strings.Join(parts, " "), s.Failed, s.Duplicates, s.Skipped, s.Duration.Round(time.Millisecond))
}

// Kaggle chest X-ray folder names.
var (
	datasetSplits = map[string]string{"train": "train", "val": "val", "test": "test"}
	datasetLabels = map[string]string{"normal": proto.LabelNormal, "pneumonia": proto.LabelPneumonia}
)

// DatasetPath reads the label and split from a file's slash-separated path
// relative to the ingested root: ".../{train,val,test}/{NORMAL,PNEUMONIA}/f"
// (names compared without case). It also returns the file's dataset path, the
// path from the split folder down ("train/NORMAL/f.jpeg"), or from the label
// folder when there is no split; for other layouts the relative path itself.
// The dataset path names the file in events and keys its request id, so
// ingesting root or root/chest_xray yields the same ids.
func DatasetPath(rel string) (label, split, datasetPath string) {
	parts := strings.Split(rel, "/")
	n := len(parts)
	datasetPath = rel
	if n >= 2 {
		if l, ok := datasetLabels[strings.ToLower(parts[n-2])]; ok {
			label = l
			datasetPath = strings.Join(parts[n-2:], "/")
			if n >= 3 {
				if sp, ok := datasetSplits[strings.ToLower(parts[n-3])]; ok {
					split = sp
					datasetPath = strings.Join(parts[n-3:], "/")
				}
			}
		}
	}
	return label, split, datasetPath
}

// IngestDir ingests every image file under root with bounded concurrency and
// returns the counts. Request ids are FolderRequestID(dataset path, sha256),
// so running it again over the same folder publishes no duplicate events
// (see Summary.Duplicates). Hidden files and folders and __MACOSX folders are
// ignored. It returns an error if root cannot be read, if ctx is cancelled
// (with the counts so far), or if some files failed (Summary.Failed); a
// rejected file is not an error.
func (s *Service) IngestDir(ctx context.Context, root string, opts DirOptions) (Summary, error) {
	start := time.Now()
	sum := Summary{Root: root, Rejected: map[string]int{}}
	fi, err := os.Stat(root)
	if err != nil {
		return sum, fmt.Errorf("ingest folder: %w", err)
	}
	if !fi.IsDir() {
		return sum, fmt.Errorf("ingest folder %s: not a folder", root)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = s.cfg.DirConcurrency
	}
	if len(opts.Extensions) == 0 {
		opts.Extensions = []string{".jpeg", ".jpg", ".png", ".dcm"}
	}
	exts := map[string]bool{}
	for _, e := range opts.Extensions {
		exts[strings.ToLower(e)] = true
	}
	s.log.Info("ingesting folder", "root", root, "concurrency", opts.Concurrency)

	var (
		mu       sync.Mutex
		failures []error
	)
	paths := make(chan string)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Go(func() {
			for p := range paths {
				res, err := s.ingestFile(ctx, root, p)
				mu.Lock()
				switch {
				case err != nil:
					sum.Failed++
					failures = append(failures, err)
				case res.rejected != "":
					sum.Rejected[res.rejected]++
				default:
					sum.Accepted++
				}
				if res.dup {
					sum.Duplicates++
				}
				mu.Unlock()
			}
		})
	}
	walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		name := d.Name()
		if p != root && (strings.HasPrefix(name, ".") || name == "__MACOSX") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if opts.Only != nil {
			if rel, err := filepath.Rel(root, p); err != nil || !opts.Only(filepath.ToSlash(rel)) {
				return nil
			}
		}
		if !exts[strings.ToLower(filepath.Ext(name))] {
			mu.Lock()
			sum.Skipped++
			mu.Unlock()
			s.log.Info("file skipped: not an image extension", attrFile, p)
			return nil
		}
		mu.Lock()
		sum.Files++
		mu.Unlock()
		select {
		case paths <- p:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(paths)
	wg.Wait()
	sum.Duration = time.Since(start)
	s.log.Info("folder ingested", "root", root, "files", sum.Files, "accepted", sum.Accepted,
		"rejected", sum.RejectedTotal(), "failed", sum.Failed, "duplicates", sum.Duplicates, "skipped", sum.Skipped)
	if walkErr != nil {
		return sum, fmt.Errorf("ingest folder %s: %w", root, walkErr)
	}
	if len(failures) > 0 {
		shown := failures[:min(len(failures), 10)]
		return sum, fmt.Errorf("ingest folder %s: %d of %d files failed (run again to retry them): %w",
			root, len(failures), sum.Files, errors.Join(shown...))
	}
	return sum, nil
}

type fileResult struct {
	rejected string // reason code, or "" if accepted
	dup      bool
}

// ingestFile ingests one file. It returns an error only for failures that a
// later run may not have (unreadable file, blob store or NATS unavailable).
func (s *Service) ingestFile(ctx context.Context, root, path string) (fileResult, error) {
	if err := ctx.Err(); err != nil {
		return fileResult{}, fmt.Errorf("ingest %s: %w", path, err)
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return fileResult{}, fmt.Errorf("ingest %s: %w", path, err)
	}
	label, split, dsPath := DatasetPath(filepath.ToSlash(rel))
	meta := Meta{Source: proto.SourceFolder, FileName: dsPath, DatasetLabel: label, DatasetSplit: split}

	f, err := os.Open(path)
	if err != nil {
		return fileResult{}, fmt.Errorf("ingest %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileResult{}, fmt.Errorf("ingest %s: %w", path, err)
	}
	if fi.Size() > s.cfg.MaxBytes {
		// Hash without loading it, so its request id is still deterministic.
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fileResult{}, fmt.Errorf("ingest %s: read: %w", path, err)
		}
		sha := hex.EncodeToString(h.Sum(nil))
		meta.RequestID = FolderRequestID(dsPath, sha)
		err := s.reject(ctx, meta, fi.Size(), sha, proto.RejectTooLarge,
			fmt.Sprintf("file is %d bytes, more than the limit of %d", fi.Size(), s.cfg.MaxBytes))
		return classify(err, false)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fileResult{}, fmt.Errorf("ingest %s: read: %w", path, err)
	}
	h := sha256.Sum256(data)
	sha := hex.EncodeToString(h[:])
	meta.RequestID = FolderRequestID(dsPath, sha)
	_, dup, err := s.ingest(ctx, data, sha, meta)
	return classify(err, dup)
}

func classify(err error, dup bool) (fileResult, error) {
	var rej *Rejection
	if errors.As(err, &rej) {
		return fileResult{rejected: rej.Code(), dup: rej.dup}, nil
	}
	if err != nil {
		return fileResult{}, err
	}
	return fileResult{dup: dup}, nil
}
