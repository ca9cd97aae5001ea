package record

// WireAlone reads raw's keys and images with the wire reader alone, without the reference
// path FromStreamInto falls back on, for tests that hold the reader itself to the reference.
func WireAlone(raw []byte, viewType string) error {
	return fromWire(&Event{}, raw, viewType)
}

// ErrReshape is errReshape, for those tests.
var ErrReshape = errReshape
