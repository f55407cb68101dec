package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/healthcare-ai/platform/xray/synth"
)

// runGenerate implements "hap generate": synthetic chest X-rays in the Kaggle
// folder layout (see package xray/synth).
func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := synth.DefaultOptions()
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hap generate [flags]\n\n"+
			"Writes <out>/chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg and manifest.json.\n"+
			"Counts: defaults, then -counts, then -n, then the per-folder flags (later wins).\n"+
			"Re-running with the same options does nothing; an interrupted run resumes.\n\nflags:\n")
		fs.PrintDefaults()
	}
	out := fs.String("out", "data", "output `dir`ectory; the data set goes to <dir>/chest_xray")
	counts := fs.String("counts", "", "all counts at once: \"kaggle\" (the original 5856-image split) or\n"+
		"`train=N/P,val=N/P,test=N/P` (normal/pneumonia per split; splits may be left out)")
	n := fs.Int("n", 0, "set every split's normal and pneumonia count to `N`")
	perFolder := []struct {
		name string
		dst  *int
	}{
		{"train-normal", &o.Train.Normal}, {"train-pneumonia", &o.Train.Pneumonia},
		{"val-normal", &o.Val.Normal}, {"val-pneumonia", &o.Val.Pneumonia},
		{"test-normal", &o.Test.Normal}, {"test-pneumonia", &o.Test.Pneumonia},
	}
	folderVals := make([]int, len(perFolder))
	for i, p := range perFolder {
		fs.IntVar(&folderVals[i], p.name, *p.dst, "images in "+strings.Replace(p.name, "-", " ", 1))
	}
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "data set seed")
	fs.IntVar(&o.MinSize, "min-size", o.MinSize, "smallest image side in `pixels`")
	fs.IntVar(&o.MaxSize, "max-size", o.MaxSize, "largest image side in `pixels`")
	fs.Float64Var(&o.Difficulty, "difficulty", o.Difficulty, "0..1: fainter, smaller lesions and more disease-like normal anatomy")
	fs.Float64Var(&o.SubtleShare, "subtle", o.SubtleShare, "0..1: share of pneumonia images with only fine-scale evidence\n(resolved at 128x128, washed out at 64x64)")
	fs.Float64Var(&o.LabelNoise, "label-noise", o.LabelNoise, "0..0.5: share of images put in the wrong class folder")
	fs.IntVar(&o.Quality, "quality", o.Quality, "JPEG quality 1..100")
	fs.IntVar(&o.Workers, "workers", 0, "images rendered in parallel (0: GOMAXPROCS); does not change the output")
	dicom := dicomFlag{mode: &o.DICOM}
	fs.Var(dicom, "dicom", "also write DICOM (.dcm) files; -dicom=only writes DICOM instead of JPEG")
	quiet := fs.Bool("q", false, "no progress output")

	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *counts != "" {
		if err := parseCounts(*counts, &o); err != nil {
			return fmt.Errorf("%w: -counts: %v", errUsage, err)
		}
	}
	if set["n"] {
		if *n < 0 {
			return fmt.Errorf("%w: -n %d: must be >= 0", errUsage, *n)
		}
		o.Train = synth.Counts{Normal: *n, Pneumonia: *n}
		o.Val, o.Test = o.Train, o.Train
	}
	for i, p := range perFolder {
		if set[p.name] {
			*p.dst = folderVals[i]
		}
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: %s", errUsage, strings.ReplaceAll(err.Error(), "\n", "; "))
	}

	total := o.Total()
	var last atomic.Int64
	start := time.Now()
	if !*quiet {
		o.Progress = func(done, total int) {
			// At most about one line per second, plus the last one.
			now := time.Since(start).Milliseconds() / 1000
			if prev := last.Load(); (now > prev && last.CompareAndSwap(prev, now)) || done == total {
				fmt.Fprintf(stderr, "generate: %d/%d images (%.0f/s)\n", done, total, float64(done)/time.Since(start).Seconds())
			}
		}
	}
	res, err := synth.Generate(ctx, *out, o)
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("generate %s: %w (written %d, kept %d before stopping)", *out, err, res.Written, res.Skipped)
	}
	if res.UpToDate {
		fmt.Fprintf(stdout, "%s: up to date (%d images, same options)\n", res.Root, res.Images)
		return nil
	}
	fmt.Fprintf(stdout, "%s: %d images (train %d/%d, val %d/%d, test %d/%d normal/pneumonia)\n",
		res.Root, total, o.Train.Normal, o.Train.Pneumonia, o.Val.Normal, o.Val.Pneumonia, o.Test.Normal, o.Test.Pneumonia)
	rate := float64(res.Written) / elapsed.Seconds()
	fmt.Fprintf(stdout, "written %d, kept %d in %s (%.1f images/s)\n", res.Written, res.Skipped, elapsed.Round(time.Millisecond), rate)
	return nil
}

// parseCounts reads "kaggle" or "train=N/P,val=N/P,test=N/P".
func parseCounts(s string, o *synth.Options) error {
	if s == "kaggle" {
		o.Train, o.Val, o.Test = synth.KaggleCounts()
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%q: want split=normal/pneumonia", part)
		}
		var dst *synth.Counts
		switch name {
		case "train":
			dst = &o.Train
		case "val":
			dst = &o.Val
		case "test":
			dst = &o.Test
		default:
			return fmt.Errorf("%q: unknown split %q (want train, val or test)", part, name)
		}
		ns, ps, ok := strings.Cut(val, "/")
		if !ok {
			return fmt.Errorf("%q: want split=normal/pneumonia", part)
		}
		nv, err1 := strconv.Atoi(ns)
		pv, err2 := strconv.Atoi(ps)
		if err1 != nil || err2 != nil || nv < 0 || pv < 0 {
			return fmt.Errorf("%q: counts must be non-negative integers", part)
		}
		*dst = synth.Counts{Normal: nv, Pneumonia: pv}
	}
	return nil
}

// dicomFlag is -dicom (also write DICOM), -dicom=only, -dicom=false.
type dicomFlag struct{ mode *synth.DICOMMode }

func (d dicomFlag) String() string {
	if d.mode == nil || *d.mode == synth.DICOMOff {
		return "false"
	}
	if *d.mode == synth.DICOMAlso {
		return "true"
	}
	return string(*d.mode)
}

func (d dicomFlag) Set(s string) error {
	switch s {
	case "true", "also", "1":
		*d.mode = synth.DICOMAlso
	case "false", "off", "0", "":
		*d.mode = synth.DICOMOff
	case "only":
		*d.mode = synth.DICOMOnly
	default:
		return fmt.Errorf("want true, false or only")
	}
	return nil
}

func (d dicomFlag) IsBoolFlag() bool { return true }
