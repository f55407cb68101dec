package synth

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDefaultOptionsValid(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions().Validate() = %v", err)
	}
	o := DefaultOptions()
	o.Train, o.Val, o.Test = KaggleCounts()
	if got := o.Total(); got != 5856 {
		t.Errorf("Kaggle total = %d, want 5856", got)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		want   []string // substrings of the error, naming the field and the reason
	}{
		{"negative count", func(o *Options) { o.Train.Normal = -1 }, []string{"Train.Normal = -1", ">= 0"}},
		{"negative val pneumonia", func(o *Options) { o.Val.Pneumonia = -5 }, []string{"Val.Pneumonia = -5"}},
		{"no images", func(o *Options) { o.Train, o.Val, o.Test = Counts{}, Counts{}, Counts{} }, []string{"no images"}},
		{"min > max", func(o *Options) { o.MinSize, o.MaxSize = 1500, 1000 }, []string{"MinSize = 1500", "<= MaxSize (1000)"}},
		{"tiny", func(o *Options) { o.MinSize = 10 }, []string{"MinSize = 10", "[64, 8192]"}},
		{"huge", func(o *Options) { o.MaxSize = 10000 }, []string{"MaxSize = 10000"}},
		{"noise high", func(o *Options) { o.LabelNoise = 0.6 }, []string{"LabelNoise = 0.6", "[0, 0.5]"}},
		{"noise negative", func(o *Options) { o.LabelNoise = -0.01 }, []string{"LabelNoise = -0.01"}},
		{"noise NaN", func(o *Options) { o.LabelNoise = math.NaN() }, []string{"LabelNoise = NaN"}},
		{"difficulty", func(o *Options) { o.Difficulty = 1.5 }, []string{"Difficulty = 1.5", "[0, 1]"}},
		{"subtle", func(o *Options) { o.SubtleShare = -0.2 }, []string{"SubtleShare = -0.2"}},
		{"quality 0", func(o *Options) { o.Quality = 0 }, []string{"Quality = 0", "[1, 100]"}},
		{"quality 101", func(o *Options) { o.Quality = 101 }, []string{"Quality = 101"}},
		{"workers", func(o *Options) { o.Workers = -2 }, []string{"Workers = -2"}},
		{"dicom", func(o *Options) { o.DICOM = "maybe" }, []string{`DICOM = "maybe"`}},
		{"several at once", func(o *Options) { o.Quality, o.Difficulty = 0, 2 }, []string{"Quality = 0", "Difficulty = 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.modify(&o)
			err := o.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, gerr := Generate(t.Context(), t.TempDir(), o); !errors.Is(gerr, ErrInvalidOptions) {
				t.Errorf("Generate error = %v, want ErrInvalidOptions", gerr)
			}
		})
	}
}

func TestValidateAcceptsEdges(t *testing.T) {
	o := DefaultOptions()
	o.MinSize, o.MaxSize = 64, 64
	o.Difficulty, o.SubtleShare, o.LabelNoise = 0, 1, 0.5
	o.Quality = 1
	o.Train, o.Val, o.Test = Counts{Normal: 1}, Counts{}, Counts{}
	o.DICOM = DICOMOnly
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
}
