package dicom

import (
	"errors"
	"fmt"
)

// Error kinds. Every error of Decode and ReadAttributes is an *Error that
// wraps exactly one of them, so callers classify with errors.Is:
//
//	ErrNotDICOM     the bytes are not a DICOM Part 10 file (no "DICM" at 128)
//	ErrUnsupported  a valid file this package does not decode: transfer
//	                syntax, modality, photometric interpretation, bit depth
//	ErrMalformed    the file breaks the DICOM encoding rules or is truncated
//	ErrTooLarge     the image is larger than Options.MaxSide
var (
	ErrNotDICOM    = errors.New("not a DICOM Part 10 file")
	ErrUnsupported = errors.New("unsupported DICOM")
	ErrMalformed   = errors.New("malformed DICOM")
	ErrTooLarge    = errors.New("DICOM image too large")
)

// Fields named by Error.Field.
const (
	FieldFile           = "file"
	FieldTransferSyntax = "transfer syntax"
	FieldModality       = "modality"
	FieldPhotometric    = "photometric interpretation"
	FieldPixels         = "pixel data"
	FieldDimensions     = "rows and columns"
)

// Error explains why a file was not decoded.
type Error struct {
	// Kind is ErrNotDICOM, ErrUnsupported, ErrMalformed or ErrTooLarge.
	Kind error
	// Field names what is wrong (a Field* constant or an attribute name).
	Field string
	// Value is the offending value when there is one, e.g. the transfer
	// syntax UID or the modality.
	Value string
	// Reason is the human-readable explanation, naming the field and value.
	Reason string
	// Attributes holds what was read before the failure (the SOP Class and
	// Instance UIDs come from the file meta information, so they are known
	// even for an unsupported transfer syntax); a STOW-RS response names the
	// failed instance with them. Only de-identified attributes, as in Decode.
	Attributes Attributes
}

func (e *Error) Error() string { return e.Reason }

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, field, value, format string, a ...any) *Error {
	return &Error{Kind: kind, Field: field, Value: value, Reason: fmt.Sprintf(format, a...)}
}

func malformed(field, format string, a ...any) *Error {
	return newError(ErrMalformed, field, "", "malformed DICOM: "+format, a...)
}
