//go:build !race

package turbojpeg_test

const raceEnabled = false
