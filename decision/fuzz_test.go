package decision

import "testing"

// FuzzDecide checks that any counts give a decision without panic, NaN or
// infinity, in both modes, for every metric. `go test` runs the seed corpus.
func FuzzDecide(f *testing.F) {
	f.Add(uint16(0), uint16(0), uint16(0), uint16(0), uint16(0), uint16(0), uint16(0), uint16(0), uint16(0))
	f.Add(uint16(510), uint16(90), uint16(340), uint16(60), uint16(570), uint16(30), uint16(380), uint16(20), uint16(2000))
	f.Add(uint16(50), uint16(0), uint16(50), uint16(0), uint16(50), uint16(0), uint16(50), uint16(0), uint16(0))
	f.Add(uint16(0), uint16(7), uint16(0), uint16(9), uint16(65535), uint16(0), uint16(0), uint16(65535), uint16(1))
	f.Fuzz(func(t *testing.T, a1, a2, a3, a4, b1, b2, b3, b4, served uint16) {
		in := Input{
			Champion:   Arm{Confusion: Confusion{TP: int(a1), FN: int(a2), TN: int(a3), FP: int(a4)}, Served: int(served)},
			Challenger: Arm{Confusion: Confusion{TP: int(b1), FN: int(b2), TN: int(b3), FP: int(b4)}, Served: int(served)},
		}
		pin := PairedInput{
			Positives: PairedCounts{BothCorrect: int(a1), OnlyChampion: int(a2), OnlyChallenger: int(a3), BothWrong: int(a4)},
			Negatives: PairedCounts{BothCorrect: int(b1), OnlyChampion: int(b2), OnlyChallenger: int(b3), BothWrong: int(b4)},
			Served:    int(served),
		}
		for _, m := range []Metric{Accuracy, Sensitivity, Specificity, BalancedAccuracy} {
			cfg := DefaultConfig()
			cfg.Metric = m
			d, err := Decide(cfg, State{}, in)
			if err != nil {
				t.Fatal(err)
			}
			checkFinite(t, d)
			d, err = DecidePaired(cfg, State{}, pin)
			if err != nil {
				t.Fatal(err)
			}
			checkFinite(t, d)
		}
		d, err := SeedRule(DefaultSeedConfig(), in)
		if err != nil {
			t.Fatal(err)
		}
		checkFinite(t, d)
	})
}
