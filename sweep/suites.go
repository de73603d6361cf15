package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/probe"
)

// watchSets point the trials' NeWT monitor at the validation suite where it would follow the
// evaluation suite (eval.monitor_newt_csv left ""): a trial is watched on the suite it is
// judged on, and a sweep records no score of the evaluation suite, not even in its curves. The
// monitor's images go with its labels, so eval.monitor_newt_images follows too. A monitor suite
// named in the config is kept (checkSuites holds it apart from the evaluation suite).
func watchSets(cfg *configs.Config) []string {
	e := cfg.Eval
	if e.MonitorNewtCSV != "" || strings.TrimSpace(e.ValCSV) == "" {
		return nil
	}
	return []string{"eval.monitor_newt_csv=" + e.ValCSV, "eval.monitor_newt_images=" + e.ValImagesPath()}
}

// checkSuites makes sure, before anything runs, that the trials can be judged: the validation
// suite (eval.val_csv) is set and valid, its images are there, and it shares no image with the
// evaluation suite (eval.newt_csv, when that file is there): a sweep judged on test images
// would choose the recipe by the test. A NeWT monitor on a suite of its own
// (eval.monitor_newt_csv) is held apart from the evaluation suite in the same way.
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
	inTest, err := evaluationIDs(e)
	if err != nil || inTest == nil {
		return err
	}
	if shared := sharedIDs(val.IDs, inTest); len(shared) > 0 {
		return usage("sweep: the validation suite %s shares %d images with the evaluation suite %s (first: %s): "+
			"a recipe chosen on it would be chosen on test images", e.ValCSV, len(shared), e.NewtCSV, shared[0])
	}
	monCSV, _ := e.MonitorSuite()
	if e.MonitorEvery <= 0 || e.MonitorNewtTasks <= 0 || filepath.Clean(monCSV) == filepath.Clean(e.ValCSV) {
		return nil
	}
	mon, err := probe.LoadSuite(monCSV)
	if err != nil {
		return fmt.Errorf("sweep: the trials' monitor suite (eval.monitor_newt_csv): %w", err)
	}
	if shared := sharedIDs(mon.IDs, inTest); len(shared) > 0 {
		return usage("sweep: the trials' monitor suite %s shares %d images with the evaluation suite %s (first: %s): "+
			"a sweep's trials are not watched on test images; leave eval.monitor_newt_csv \"\" (they are then watched on the "+
			"validation suite) or set eval.monitor_newt_tasks=0", monCSV, len(shared), e.NewtCSV, shared[0])
	}
	return nil
}

// evaluationIDs are the image ids of the evaluation suite (eval.newt_csv); nil when there is
// none here to compare with.
func evaluationIDs(e configs.Eval) (map[string]bool, error) {
	if e.NewtCSV == "" {
		return nil, nil
	}
	if _, err := os.Stat(e.NewtCSV); err != nil {
		return nil, nil
	}
	test, err := probe.LoadSuite(e.NewtCSV)
	if err != nil {
		return nil, fmt.Errorf("sweep: evaluation suite (eval.newt_csv): %w", err)
	}
	in := make(map[string]bool, len(test.IDs))
	for _, id := range test.IDs {
		in[id] = true
	}
	return in, nil
}

// sharedIDs lists the ids that are in set.
func sharedIDs(ids []string, set map[string]bool) []string {
	var shared []string
	for _, id := range ids {
		if set[id] {
			shared = append(shared, id)
		}
	}
	return shared
}
