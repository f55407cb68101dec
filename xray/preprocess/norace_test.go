//go:build !race

package preprocess_test

const raceEnabled = false
