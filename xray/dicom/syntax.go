package dicom

import (
	"slices"
	"strings"
)

// Transfer syntaxes decoded by this package.
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	JPEGBaseline           = "1.2.840.10008.1.2.4.50" // JPEG Baseline (Process 1), 8-bit lossy
)

// SupportedTransferSyntaxes lists the transfer syntaxes Decode accepts.
var SupportedTransferSyntaxes = []string{ImplicitVRLittleEndian, ExplicitVRLittleEndian, JPEGBaseline}

// transferSyntaxNames names the transfer syntaxes a PACS is likely to send,
// for error messages (PS3.6 Table A-1).
var transferSyntaxNames = map[string]string{
	ImplicitVRLittleEndian:    "Implicit VR Little Endian",
	ExplicitVRLittleEndian:    "Explicit VR Little Endian",
	"1.2.840.10008.1.2.1.99":  "Deflated Explicit VR Little Endian",
	"1.2.840.10008.1.2.2":     "Explicit VR Big Endian (retired)",
	JPEGBaseline:              "JPEG Baseline (Process 1)",
	"1.2.840.10008.1.2.4.51":  "JPEG Extended (Process 2 & 4)",
	"1.2.840.10008.1.2.4.57":  "JPEG Lossless, Non-Hierarchical (Process 14)",
	"1.2.840.10008.1.2.4.70":  "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
	"1.2.840.10008.1.2.4.80":  "JPEG-LS Lossless Image Compression",
	"1.2.840.10008.1.2.4.81":  "JPEG-LS Lossy (Near-Lossless) Image Compression",
	"1.2.840.10008.1.2.4.90":  "JPEG 2000 Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.91":  "JPEG 2000 Image Compression",
	"1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.202": "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000 Image Compression",
	"1.2.840.10008.1.2.5":     "RLE Lossless",
	"1.2.840.10008.1.2.4.100": "MPEG2 Main Profile / Main Level",
	"1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264 High Profile / Level 4.1",
	"1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
	"1.2.840.10008.1.2.4.112": "JPEG XL",
	"1.2.840.10008.1.2.1.98":  "Encapsulated Uncompressed Explicit VR Little Endian",
	"1.2.840.10008.1.2.4.94":  "JPIP Referenced",
	"1.2.840.10008.1.2.4.95":  "JPIP Referenced Deflate",
	"1.2.840.10008.1.2.4.92":  "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.93":  "JPEG 2000 Part 2 Multi-component Image Compression",
	"1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
	"1.2.840.10008.1.2.4.107": "HEVC/H.265 Main Profile / Level 5.1",
	"1.2.840.10008.1.2.4.108": "HEVC/H.265 Main 10 Profile / Level 5.1",
}

// TransferSyntaxName returns the name of a transfer syntax UID, or "" when
// it is not one this package knows.
func TransferSyntaxName(uid string) string { return transferSyntaxNames[uid] }

// describeSyntax renders "UID (name)" or just the UID.
func describeSyntax(uid string) string {
	if n := transferSyntaxNames[uid]; n != "" {
		return uid + " (" + n + ")"
	}
	return uid
}

func supportedSyntaxList() string {
	names := make([]string, len(SupportedTransferSyntaxes))
	for i, s := range SupportedTransferSyntaxes {
		names[i] = describeSyntax(s)
	}
	return strings.Join(names, ", ")
}

func supportedSyntax(uid string) bool { return slices.Contains(SupportedTransferSyntaxes, uid) }

// explicitLE reports whether a transfer syntax encodes its data set in
// explicit VR little endian: every encapsulated (compressed) syntax does.
// Deflated and big-endian syntaxes do not; implicit VR is handled apart.
func explicitLE(uid string) bool {
	switch uid {
	case ImplicitVRLittleEndian, "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2":
		return false
	}
	return true
}
