package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// printJSONLine writes v as one JSON line: the last line of stdout that scripts read.
func printJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// writeJSON writes v as indented JSON, for the documents of --json (runs list, runs show).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// num is a float64 that JSON writes as null when it is NaN or infinite (JSON has neither).
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}
