package synth

import (
	"cmp"
	"fmt"
	"image"
	"io"
	"math/big"
	"slices"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// DICOM constants of the written files.
const (
	dxPresentationSOPClass = "1.2.840.10008.5.1.4.1.1.1.1" // Digital X-Ray Image Storage - For Presentation
	explicitVRLittleEndian = "1.2.840.10008.1.2.1"
	implementationUID      = "2.25.302158262305128390375837702137935717581" // fixed, derived once from a UUID
	implementationName     = "HAP_SYNTH_1"
)

// dicomUID is a deterministic UID in the UUID-derived "2.25." root: the
// decimal form of 128 bits hashed from the image seed and a purpose.
func dicomUID(key uint64, purpose string) string {
	hi := mix(key, purpose, "hi")
	lo := mix(key, purpose, "lo")
	n := new(big.Int).SetUint64(hi)
	n.Lsh(n, 64)
	n.Or(n, new(big.Int).SetUint64(lo))
	return "2.25." + n.String()
}

// writeDICOM writes img as a DICOM Part 10 file: Digital X-Ray For
// Presentation, modality DX, PA view, MONOCHROME2, 8-bit native pixel data,
// explicit VR little endian. Identifiers are synthetic and derived from the
// image seed, so the file is as deterministic as the JPEG.
func writeDICOM(w io.Writer, img *image.Gray, sc *scene) error {
	rows, cols := img.Rect.Dy(), img.Rect.Dx()
	pix := make([]byte, rows*cols, rows*cols+1)
	for y := range rows {
		copy(pix[y*cols:(y+1)*cols], img.Pix[y*img.Stride:y*img.Stride+cols])
	}
	if len(pix)%2 == 1 {
		pix = append(pix, 0) // values have even length
	}
	sop := dicomUID(sc.key, "sop")
	study := dicomUID(sc.key, "study")
	series := dicomUID(sc.key, "series")
	elems := []struct {
		t tag.Tag
		v any
	}{
		{tag.FileMetaInformationVersion, []byte{0, 1}},
		{tag.MediaStorageSOPClassUID, []string{dxPresentationSOPClass}},
		{tag.MediaStorageSOPInstanceUID, []string{sop}},
		{tag.TransferSyntaxUID, []string{explicitVRLittleEndian}},
		{tag.ImplementationClassUID, []string{implementationUID}},
		{tag.ImplementationVersionName, []string{implementationName}},

		{tag.SpecificCharacterSet, []string{"ISO_IR 100"}},
		{tag.ImageType, []string{"DERIVED", "PRIMARY"}},
		{tag.SOPClassUID, []string{dxPresentationSOPClass}},
		{tag.SOPInstanceUID, []string{sop}},
		{tag.StudyDate, []string{"20240101"}},
		{tag.StudyTime, []string{"000000"}},
		{tag.AccessionNumber, []string{""}},
		{tag.Modality, []string{"DX"}},
		{tag.PresentationIntentType, []string{"FOR PRESENTATION"}},
		{tag.Manufacturer, []string{"healthcare-ai synthetic"}},
		{tag.ReferringPhysicianName, []string{""}},
		{tag.StudyDescription, []string{"CHEST PA (SYNTHETIC)"}},
		{tag.SeriesDescription, []string{string(sc.split) + " " + string(sc.folder)}},
		{tag.PatientName, []string{"SYNTHETIC^" + sc.patient}},
		{tag.PatientID, []string{"SYN-" + sc.patient}},
		{tag.PatientBirthDate, []string{""}},
		{tag.PatientSex, []string{""}},
		{tag.BodyPartExamined, []string{"CHEST"}},
		{tag.StudyInstanceUID, []string{study}},
		{tag.SeriesInstanceUID, []string{series}},
		{tag.StudyID, []string{""}},
		{tag.SeriesNumber, []string{"1"}},
		{tag.InstanceNumber, []string{"1"}},
		{tag.PatientOrientation, []string{"L", "F"}}, // PA: rows run to the patient's left, columns to the feet
		{tag.ViewPosition, []string{"PA"}},
		{tag.BurnedInAnnotation, []string{"NO"}},
		// No ground truth here: the manifest has it, the pixels must be the
		// only evidence.
		{tag.ImageComments, []string{fmt.Sprintf("synthetic image %s, seed %d", sc.base, sc.key)}},
		{tag.SamplesPerPixel, []int{1}},
		{tag.PhotometricInterpretation, []string{"MONOCHROME2"}},
		{tag.Rows, []int{rows}},
		{tag.Columns, []int{cols}},
		{tag.BitsAllocated, []int{8}},
		{tag.BitsStored, []int{8}},
		{tag.HighBit, []int{7}},
		{tag.PixelRepresentation, []int{0}},
		{tag.LossyImageCompression, []string{"00"}},
	}
	ds := dicom.Dataset{}
	for _, e := range elems {
		el, err := dicom.NewElement(e.t, e.v)
		if err != nil {
			return fmt.Errorf("dicom element %s: %w", tag.DebugString(e.t), err)
		}
		ds.Elements = append(ds.Elements, el)
	}
	// The library writes native frames one binary.Write per pixel; handing it
	// the raw bytes as "unprocessed" pixel data writes them in one go.
	pd, err := dicom.NewElement(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pix})
	if err != nil {
		return fmt.Errorf("dicom pixel data: %w", err)
	}
	pd.RawValueRepresentation = "OB"
	ds.Elements = append(ds.Elements, pd)
	// Data elements go in ascending tag order.
	slices.SortFunc(ds.Elements, func(a, b *dicom.Element) int {
		return cmp.Or(cmp.Compare(a.Tag.Group, b.Tag.Group), cmp.Compare(a.Tag.Element, b.Tag.Element))
	})
	if err := dicom.Write(w, ds); err != nil {
		return fmt.Errorf("write dicom: %w", err)
	}
	return nil
}
