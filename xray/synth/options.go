package synth

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidOptions is wrapped by every error that Options.Validate returns.
var ErrInvalidOptions = errors.New("invalid options")

// Counts is the number of images per class folder of one split.
type Counts struct {
	Normal    int `json:"normal"`
	Pneumonia int `json:"pneumonia"`
}

// Total is Normal + Pneumonia.
func (c Counts) Total() int { return c.Normal + c.Pneumonia }

// DICOMMode says whether DICOM files are written next to, or instead of, the
// JPEGs.
type DICOMMode string

// DICOM output modes.
const (
	DICOMOff  DICOMMode = ""     // JPEG only (the Kaggle layout)
	DICOMAlso DICOMMode = "also" // JPEG plus a .dcm file of the same name
	DICOMOnly DICOMMode = "only" // .dcm files only, no JPEG
)

// Options configure Generate. Start from DefaultOptions and change fields;
// the zero value is not valid (Quality and the size range must be set).
//
// The knobs that control how hard the classification task is:
//
//   - Difficulty (0..1, default 0.5) shifts every source of ambiguity at once:
//     non-subtle lesions get fainter and smaller (density x2.4 at 0 down to
//     x0.7 at 1, size x1.15 down to x0.8; subtle lesions x1.2 down to x0.8),
//     the share of "hard" anatomy rises (dense vessel markings, poor
//     inspiration, breast and nipple shadows, scapula overlap, exposure
//     extremes: 15% of images at 0, 60% at 1), and quantum noise grows (0.8x
//     to 1.3x). Hard anatomy is drawn independently of the label, so it
//     appears in pneumonia images as often as in normal ones: it confuses, it
//     never leaks the label.
//   - SubtleShare (0..1, default 0.20) is the fraction of true pneumonia
//     images whose only evidence is fine-scale: a sparse reticulonodular
//     texture whose period is about 1/56 of the image's long side, or a
//     cluster of micronodules, with no net density. Area-averaged to 128x128
//     pixels the texture is resolved (about 2.3 pixels per period); at 64x64
//     a period is about one pixel and it averages out. Raising SubtleShare
//     lowers the accuracy of a 64x64 model more than that of a 128x128 one,
//     which is the lever for the champion/challenger gap. Measured with the
//     defaults (default sizes, 1500+1500 training, 250+250 validation,
//     500+500 test images, training/train.py models and settings, inputs
//     normalised with mean 0.5 and sd 0.25): the 64x64 SimpleCNN reached
//     86% test accuracy (AUC 0.87), finding 98% of the clear pneumonias and
//     under 10% of the subtle ones; the 128x128 ResNetSmall reached 95%
//     (AUC 0.98), finding 96% of the subtle lattices and 63% of the subtle
//     foci. Each 0.1 of SubtleShare moves the champion by about 4-5 points
//     and the challenger by about 1; Difficulty moves both.
//   - LabelNoise (0..0.5, default 0.02) is the fraction of images written to
//     the wrong class folder; it caps every model's accuracy at about
//     1-LabelNoise.
//
// The per-image random draws do not depend on SubtleShare and LabelNoise, so
// raising either converts some images (clear to subtle, kept to flipped)
// and leaves all others byte-identical.
//
// Everything else (exposure, contrast, gamma, field of view, body size,
// collimation, rotation, processing) varies at random over wide ranges that
// do not depend on the label, so that whole-image statistics such as mean
// and standard deviation carry almost no information about the class.
type Options struct {
	// Images per class folder of each split (the folder, not the rendered
	// truth: label noise moves content, never counts).
	Train Counts `json:"train"`
	Val   Counts `json:"val"`
	Test  Counts `json:"test"`

	// MinSize and MaxSize bound both sides of every image in pixels. The long
	// side is drawn from [MinSize, MaxSize] with a bias towards small images
	// and the aspect ratio w/h from [0.8, 1.25], then both sides are clamped
	// into the range.
	MinSize int `json:"min_size"`
	MaxSize int `json:"max_size"`

	// Difficulty, SubtleShare and LabelNoise: see the type's doc comment.
	Difficulty  float64 `json:"difficulty"`
	SubtleShare float64 `json:"subtle_share"`
	LabelNoise  float64 `json:"label_noise"`

	// Seed selects the data set. Every image derives its own random streams
	// from (Seed, split, class folder, index), so output does not depend on
	// Workers or on the order in which images are rendered.
	Seed uint64 `json:"seed"`

	// Quality is the JPEG quality, 1..100.
	Quality int `json:"quality"`

	// DICOM adds or substitutes DICOM Part 10 files (see DICOMMode).
	DICOM DICOMMode `json:"dicom,omitempty"`

	// Workers bounds the number of images rendered at once; 0 means
	// runtime.GOMAXPROCS(0). It does not change the output.
	Workers int `json:"-"`

	// Progress, if not nil, is called after each image with the number of
	// images done (written or skipped) and the total. It is called from the
	// worker goroutines and must be safe for concurrent use.
	Progress func(done, total int) `json:"-"`
}

// Default values of the Options fields.
const (
	DefaultMinSize     = 900
	DefaultMaxSize     = 2000
	DefaultDifficulty  = 0.5
	DefaultSubtleShare = 0.20
	DefaultLabelNoise  = 0.02
	DefaultSeed        = 1
	DefaultQuality     = 90
)

// DefaultOptions returns a balanced data set of 1000+1000 training, 100+100
// validation and 200+200 test images with the default knobs.
func DefaultOptions() Options {
	return Options{
		Train:       Counts{Normal: 1000, Pneumonia: 1000},
		Val:         Counts{Normal: 100, Pneumonia: 100},
		Test:        Counts{Normal: 200, Pneumonia: 200},
		MinSize:     DefaultMinSize,
		MaxSize:     DefaultMaxSize,
		Difficulty:  DefaultDifficulty,
		SubtleShare: DefaultSubtleShare,
		LabelNoise:  DefaultLabelNoise,
		Seed:        DefaultSeed,
		Quality:     DefaultQuality,
	}
}

// KaggleCounts returns the per-folder counts of the original Kaggle "Chest
// X-Ray Images (Pneumonia)" data set (5856 images): train 1341/3875, val 8/8,
// test 234/390 (normal/pneumonia).
func KaggleCounts() (train, val, test Counts) {
	return Counts{1341, 3875}, Counts{8, 8}, Counts{234, 390}
}

// Total is the number of images the options describe.
func (o Options) Total() int { return o.Train.Total() + o.Val.Total() + o.Test.Total() }

// Limits of Options fields.
const (
	MinImageSide = 64
	MaxImageSide = 8192
	MaxImages    = 1_000_000
)

// Validate reports every invalid field, naming it, joined into one error that
// wraps ErrInvalidOptions.
func (o Options) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("%w: %s = %v: %s", ErrInvalidOptions, field, v, why))
	}
	for _, s := range []struct {
		name string
		c    Counts
	}{{"Train", o.Train}, {"Val", o.Val}, {"Test", o.Test}} {
		if s.c.Normal < 0 {
			bad(s.name+".Normal", s.c.Normal, "must be >= 0")
		}
		if s.c.Pneumonia < 0 {
			bad(s.name+".Pneumonia", s.c.Pneumonia, "must be >= 0")
		}
	}
	if len(errs) == 0 {
		switch n := o.Total(); {
		case n == 0:
			bad("Train/Val/Test", 0, "no images requested")
		case n > MaxImages:
			bad("Train/Val/Test", n, fmt.Sprintf("at most %d images in total", MaxImages))
		}
	}
	if o.MinSize < MinImageSide || o.MinSize > MaxImageSide {
		bad("MinSize", o.MinSize, fmt.Sprintf("must be in [%d, %d]", MinImageSide, MaxImageSide))
	}
	if o.MaxSize < MinImageSide || o.MaxSize > MaxImageSide {
		bad("MaxSize", o.MaxSize, fmt.Sprintf("must be in [%d, %d]", MinImageSide, MaxImageSide))
	}
	if o.MinSize > o.MaxSize {
		bad("MinSize", o.MinSize, fmt.Sprintf("must be <= MaxSize (%d)", o.MaxSize))
	}
	unit := func(field string, v, hi float64) {
		if !(v >= 0 && v <= hi) { // also rejects NaN
			bad(field, v, fmt.Sprintf("must be in [0, %g]", hi))
		}
	}
	unit("Difficulty", o.Difficulty, 1)
	unit("SubtleShare", o.SubtleShare, 1)
	unit("LabelNoise", o.LabelNoise, 0.5)
	if o.Quality < 1 || o.Quality > 100 {
		bad("Quality", o.Quality, "must be in [1, 100]")
	}
	if o.Workers < 0 {
		bad("Workers", o.Workers, "must be >= 0 (0 means GOMAXPROCS)")
	}
	switch o.DICOM {
	case DICOMOff, DICOMAlso, DICOMOnly:
	default:
		bad("DICOM", fmt.Sprintf("%q", string(o.DICOM)), `must be "", "also" or "only"`)
	}
	return errors.Join(errs...)
}

// canonical is the JSON form of the options that determine the output; two
// runs whose canonical forms are equal write identical files.
func (o Options) canonical() (string, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("encode options: %w", err)
	}
	return string(b), nil
}
