package pipeline

import (
	"path/filepath"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/loader"
)

// demoSource is where the default config reads its training data.
const demoSource = "data/fmnist/"

// CheckInputs checks the config's local training data before any work (training refuses a
// missing or empty data.source before it creates a run; natssl config validate reports the
// same): every problem as a *configs.Errors line naming the key, the value, where it was set
// and, for a relative path, the folder it was read from. s3:// inputs are checked when opened.
func CheckInputs(cfg *configs.Config) error {
	errs := loader.Check(cfg.Data)
	if len(errs) == 0 {
		return nil
	}
	for _, e := range errs {
		e.Origin = cfg.Origin(e.Key)
		if e.Key == "data.source" && strings.HasPrefix(filepath.ToSlash(cfg.Data.Source), demoSource) {
			e.Reason += "; create the demo data with: natssl data fashion-mnist"
		}
	}
	return &errs
}
