// Package dicom decodes DICOM Part 10 chest radiographs into 8-bit grayscale
// images for xray/preprocess, keeping only de-identified attributes.
//
// # What is decoded
//
// Modality CR or DX (Options.Modalities), transfer syntax Implicit or
// Explicit VR Little Endian (native pixel data) or JPEG Baseline
// (1.2.840.10008.1.2.4.50). Anything else is refused with an *Error of kind
// ErrUnsupported that names the value, e.g. `transfer syntax
// 1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only)) is not
// supported` or `modality "CT" is not supported`.
//
// Native pixel data: BitsAllocated 8 or 16, any BitsStored and HighBit that
// fit, unsigned or signed (PixelRepresentation), MONOCHROME1 or MONOCHROME2,
// one sample per pixel. JPEG baseline: 8-bit frames, gray or YCbCr/RGB
// (converted to luma as xray/preprocess does). Only the first frame is
// decoded.
//
// Stored values become 8-bit values in this order (PS3.3 C.11):
//
//  1. modality LUT: value * RescaleSlope + RescaleIntercept;
//  2. VOI LUT: the first WindowCenter/WindowWidth pair with VOILUTFunction
//     LINEAR (default), LINEAR_EXACT or SIGMOID, when present; otherwise
//     8-bit unsigned values without rescale are kept as they are (a DICOM
//     that wraps a JPEG gives exactly that JPEG's pixels), and any other
//     values are stretched from their minimum to their maximum;
//  3. MONOCHROME1 is inverted, so bright always means dense.
//
// VOI LUT Sequence and Modality LUT Sequence tables are not applied.
//
// # De-identification
//
// Attributes holds the only attributes returned: a pseudonymous PatientKey
// computed by the caller's Options.PatientKey from PatientID (the raw id never
// leaves this package), the Study, Series and SOP Instance UIDs (kept to link
// a result back to the PACS), SOP Class, Modality, ViewPosition, Manufacturer,
// PixelSpacing and the transfer syntax. The direct identifiers of the DICOM
// basic application level confidentiality profile (PS3.15 E.1: names, birth
// date, addresses, accession number, institution, physicians, operators,
// device serial numbers, dates, comments, ...) are skipped unread. The decoded
// image carries no metadata at all: the platform stores it as a PNG in the
// bronze volume, never the original DICOM file. Pixels themselves may still
// show burned-in annotations; this package does not look for them.
//
// # Safety
//
// The parser works on the input bytes without copying them, checks every
// length against the input before using it, bounds sequence nesting
// (16 levels) and the number of pixel data fragments, and rejects Rows or
// Columns above Options.MaxSide before allocating the output. The memory a
// decode allocates is therefore at most about MaxSide² bytes for the image
// (three times that for a colour JPEG) plus a lookup table of 2^BitsStored
// bytes. FuzzDecode checks that no input panics and that the allocation stays
// within that bound.
package dicom
