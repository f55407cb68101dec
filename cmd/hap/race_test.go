//go:build race

package main

// raceEnabled: the race detector slows image generation about tenfold.
const raceEnabled = true
