package cli

import (
	"fmt"
	"strings"
)

// setFlag is --set: repeatable, and each value must be key=value when it is given, so that
// "--set train.lr 0.1" is refused as a malformed --set rather than a stray argument "0.1".
type setFlag struct{ sets *[]string }

// setFlagError is a --set value that is not key=value.
type setFlagError struct{ value string }

func (e *setFlagError) Error() string {
	return fmt.Sprintf("--set needs key=value, got %q: write --set %s=VALUE (no space around =)", e.value, strings.TrimSpace(e.value))
}

func (f *setFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || strings.TrimSpace(k) == "" {
		return &setFlagError{value: v}
	}
	*f.sets = append(*f.sets, v)
	return nil
}

func (f *setFlag) Type() string { return "key=value" }

func (f *setFlag) String() string {
	if f.sets == nil || len(*f.sets) == 0 {
		return "[]"
	}
	return "[" + strings.Join(*f.sets, ",") + "]"
}
