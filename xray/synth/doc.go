// Package synth generates synthetic chest radiographs (PA view) with and
// without pneumonia, written in the folder layout of the Kaggle "Chest X-Ray
// Images (Pneumonia)" data set:
//
//	<out>/chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg
//	<out>/chest_xray/manifest.json
//
// File names follow the Kaggle patterns (IM-0001-0001.jpeg,
// NORMAL2-IM-0012-0001.jpeg, person12_bacteria_45.jpeg,
// person3_virus_7.jpeg); patient numbers continue across splits, so no
// patient spans two splits. The manifest lists every image with its split,
// folder label, rendered truth, whether label noise flipped it, pattern,
// lesion boxes, severity, a difficulty score, hard-anatomy "mimics" and the
// image seed. Optionally DICOM Part 10 files (DX, PA, MONOCHROME2, 8 bit)
// are written next to or instead of the JPEGs.
//
// # Anatomy
//
// Each image is a projection through an additive attenuation model in a
// world frame (X to the image right, Y down, lung apices at Y = 0, rib cage
// half width about 1): soft tissue of an elliptic cylinder (neck, sloping
// shoulders, humeral heads, optional arms), two lung fields whose air
// replaces tissue (rounded apices, lateral walls, medial borders formed by
// the mediastinum, the aortic knob and the heart, diaphragm domes with the
// right one higher, sharp costophrenic angles), the heart bulging to the
// image right (the patient's left in a PA view) and sitting on the
// diaphragm, spine with vertebral bodies and pedicles, trachea and main
// bronchi, clavicles, posterior ribs (arched, visible through the lungs and
// fading over the mediastinum) and fainter anterior ribs, branching vessels
// radiating from the hila, liver and abdomen below the domes, a gastric
// bubble and bowel gas. Exposure (penetration, level, contrast, gamma),
// unsharp-mask processing, a heel-effect ramp, quantum mottle, rotation,
// shift and field of view, collimation borders and a lead side marker ("L"
// or "R") vary from image to image.
//
// Some chests are "hard" (probability 0.15 + 0.45*Difficulty): dense
// vessel markings with end-on vessels, poor inspiration (short lungs, wide
// heart), breast shadows, nipple shadows, scapula overlap, over- or
// under-exposure. These are drawn independently of the label, so they make
// normal images look abnormal without ever telling the classes apart.
//
// # Pathology
//
// True pneumonia images get lesions inside the lung fields, one or both
// sides, added as density that fills air spaces (it saturates at the air it
// replaces, so opacities merge with the heart and diaphragm borders: the
// silhouette sign):
//
//   - consolidation: lobar or segmental, large and dense, irregular border,
//     sometimes a sharp fissure edge and air bronchograms;
//   - patchy: bronchopneumonia, several fluffy blobs in clusters;
//   - interstitial: fine reticular lines over a faint haze;
//   - ground glass: a broad faint haze that often accompanies the above;
//   - reticulonodular (subtle): tiny nodules on a sparse lattice of period
//     about 1/56 of the image's long side;
//   - foci (subtle): a cluster of micronodules about 1/85 of the long side.
//
// Bacterial pneumonias are mostly consolidations, viral ones mostly patchy
// or interstitial. The subtle nodules are ringed by slightly hyperlucent
// lung (air trapping) so that they add no density on average: their
// evidence is a texture that area-averaging to 128x128 pixels keeps (a
// dotted pattern, 2-3 pixels per period) and averaging to 64x64 pixels
// cancels (about one pixel per period), with almost nothing left for a
// low-resolution model to see.
//
// # Knobs
//
// Options.Difficulty, Options.SubtleShare and Options.LabelNoise set how hard
// the task is (see Options). All other variation is label-independent and
// wide, so that whole-image statistics such as the mean and standard
// deviation of the pixels do not reveal the class (the package tests check
// that a logistic regression on them stays near chance).
//
// # Determinism and speed
//
// Every image draws from its own random streams seeded by a hash of
// (Seed, split, class folder, index), one stream per concern (label noise,
// view, anatomy, lesions, noise), so output is byte-identical for equal
// options whatever the number of workers, and an image rendered without its
// lesions differs only where the lesions are. Anatomy and pathology are
// computed on a working grid of at most 512 samples on the long side; the
// full-resolution pass only interpolates (in fixed point), adds noise and
// draws the marker. Generate renders with a bounded worker pool, writes
// files atomically, skips a complete data set written with the same options
// and resumes an interrupted one.
package synth
