package decision

import "testing"

func BenchmarkDecide(b *testing.B) {
	cfg := DefaultConfig()
	var st State
	in := Input{Champion: Arm{Confusion: Confusion{TP: 500, FN: 90, TN: 350, FP: 60}, Served: 2000},
		Challenger: Arm{Confusion: Confusion{TP: 520, FN: 70, TN: 360, FP: 50}, Served: 2000}}
	for b.Loop() {
		d, err := Decide(cfg, st, in)
		if err != nil {
			b.Fatal(err)
		}
		st = d.State
	}
}

func BenchmarkSeedRule(b *testing.B) {
	cfg := DefaultSeedConfig()
	in := Input{Champion: Arm{Confusion: Confusion{TP: 500, FN: 90, TN: 350, FP: 60}, Served: 2000},
		Challenger: Arm{Confusion: Confusion{TP: 520, FN: 70, TN: 360, FP: 50}, Served: 2000}}
	for b.Loop() {
		if _, err := SeedRule(cfg, in); err != nil {
			b.Fatal(err)
		}
	}
}
