package synth

import (
	"fmt"
	"math/rand/v2"
	"path"
)

// Split is a data set split, named as the Kaggle folder.
type Split string

// The three splits in the order they are generated.
const (
	Train Split = "train"
	Val   Split = "val"
	Test  Split = "test"
)

// splits lists the splits in generation order.
var splits = []Split{Train, Val, Test}

// Class is a class folder name of the Kaggle layout.
type Class string

// The two classes.
const (
	Normal    Class = "NORMAL"
	Pneumonia Class = "PNEUMONIA"
)

// classes lists the classes in generation order.
var classes = []Class{Normal, Pneumonia}

// Root is the folder under the output directory that holds the data set.
const Root = "chest_xray"

// ManifestName is the manifest's file name inside Root.
const ManifestName = "manifest.json"

// Pneumonia subtypes as they appear in Kaggle file names.
const (
	Bacteria = "bacteria"
	Virus    = "virus"
)

func (o Options) counts(s Split) Counts {
	switch s {
	case Train:
		return o.Train
	case Val:
		return o.Val
	default:
		return o.Test
	}
}

// slot is one image of the plan: where it goes and what seeds it.
type slot struct {
	split   Split
	folder  Class
	index   int    // index within (split, folder)
	base    string // file name without extension
	subtype string // bacteria or virus for PNEUMONIA folder names
	patient string // patient part of the name ("IM-0012", "person7")
	key     uint64 // per-image seed derived from (seed, split, folder, index)
}

// rel is the slot's path relative to Root with the given extension.
func (s slot) rel(ext string) string {
	return path.Join(string(s.split), string(s.folder), s.base+ext)
}

// plan lists every image in generation order: splits train, val, test; in each
// split NORMAL then PNEUMONIA; in each folder by index. File names follow the
// Kaggle patterns. Patient numbers continue across splits, so names are unique
// in the whole data set and no patient spans two splits.
func plan(o Options) []slot {
	slots := make([]slot, 0, o.Total())
	var (
		imSeries, normal2Series int // last patient number of each NORMAL series
		person                  int // last PNEUMONIA person number
		perSubtype              = map[string]int{Bacteria: 0, Virus: 0}
	)
	for _, sp := range splits {
		c := o.counts(sp)
		for _, cl := range classes {
			n := c.Normal
			if cl == Pneumonia {
				n = c.Pneumonia
			}
			r := newRand(mix(o.Seed, "names", string(sp), string(cl)), streamNames)
			base := mix(o.Seed, "image", string(sp), string(cl))
			left := 0 // images left for the current patient
			var prefix, subtype string
			var patient, image int
			for i := range n {
				if left == 0 {
					left = patientImages(r)
					image = 0
					if cl == Normal {
						if r.Float64() < 0.5 {
							imSeries++
							prefix, patient = "IM", imSeries
						} else {
							normal2Series++
							prefix, patient = "NORMAL2-IM", normal2Series
						}
					} else {
						person++
						patient = person
						subtype = Bacteria
						if r.Float64() < 0.35 {
							subtype = Virus
						}
					}
				}
				left--
				image++
				s := slot{split: sp, folder: cl, index: i, key: splitmix(base ^ uint64(i))}
				if cl == Normal {
					s.patient = fmt.Sprintf("%s-%04d", prefix, patient)
					s.base = fmt.Sprintf("%s-%04d", s.patient, image)
				} else {
					perSubtype[subtype]++
					s.subtype = subtype
					s.patient = fmt.Sprintf("person%d", patient)
					s.base = fmt.Sprintf("%s_%s_%d", s.patient, subtype, perSubtype[subtype])
				}
				slots = append(slots, s)
			}
		}
	}
	return slots
}

// patientImages draws how many images a patient contributes (1 to 3, mostly 1).
func patientImages(r *rand.Rand) int {
	switch u := r.Float64(); {
	case u < 0.72:
		return 1
	case u < 0.93:
		return 2
	default:
		return 3
	}
}

// Random streams of one image. Each is an independent PCG sequence seeded by
// the image key, so adding or removing a lesion does not change the anatomy,
// the exposure or the noise.
const (
	streamNames   = 1
	streamMeta    = 2 // label noise, subtlety, subtype of flipped images
	streamView    = 3 // size, field of view, exposure, marker
	streamAnatomy = 4
	streamLesion  = 5
	streamNoise   = 6
)

func newRand(key uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(key, splitmix(key^(stream*0x9e3779b97f4a7c15))))
}

// mix hashes a seed and a list of strings into a 64-bit key.
func mix(seed uint64, parts ...string) uint64 {
	h := splitmix(seed ^ 0x5851f42d4c957f2d)
	for _, p := range parts {
		for i := 0; i < len(p); i++ { // FNV-1a over the bytes, then mixed
			h ^= uint64(p[i])
			h *= 0x100000001b3
		}
		h = splitmix(h ^ uint64(len(p)))
	}
	return h
}

// splitmix is the SplitMix64 finaliser.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
