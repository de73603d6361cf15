package sweep

import (
	"fmt"
	"os"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/probe"
)

// checkSuites makes sure, before anything runs, that the trials can be judged: the validation
// suite (eval.val_csv) is set and valid, its images are there, and it shares no image with the
// evaluation suite (eval.newt_csv, when that file is there): a sweep judged on test images
// would choose the recipe by the test.
func checkSuites(cfg *configs.Config) error {
	e := cfg.Eval
	if strings.TrimSpace(e.ValCSV) == "" {
		return usage("sweep: no validation suite: set eval.val_csv (and eval.val_images) to a NeWT-layout suite held out " +
			"from the evaluation suite (natssl data fashion-mnist writes DIR/val/); a sweep is never judged on eval.newt_csv")
	}
	val, err := probe.LoadSuite(e.ValCSV)
	if err != nil {
		return fmt.Errorf("sweep: validation suite (eval.val_csv): %w", err)
	}
	if _, err := os.Stat(e.ValImagesPath()); err != nil {
		return fmt.Errorf("sweep: the validation suite's images (eval.val_images) %s: %w", e.ValImagesPath(), err)
	}
	if e.NewtCSV == "" {
		return nil
	}
	if _, err := os.Stat(e.NewtCSV); err != nil {
		return nil // no evaluation suite here to compare with
	}
	test, err := probe.LoadSuite(e.NewtCSV)
	if err != nil {
		return fmt.Errorf("sweep: evaluation suite (eval.newt_csv): %w", err)
	}
	inTest := make(map[string]bool, len(test.IDs))
	for _, id := range test.IDs {
		inTest[id] = true
	}
	var shared []string
	for _, id := range val.IDs {
		if inTest[id] {
			shared = append(shared, id)
		}
	}
	if len(shared) > 0 {
		return usage("sweep: the validation suite %s shares %d images with the evaluation suite %s (first: %s): "+
			"a recipe chosen on it would be chosen on test images", e.ValCSV, len(shared), e.NewtCSV, shared[0])
	}
	return nil
}
