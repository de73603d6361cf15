// Package configs owns natssl's run configuration: the typed Config, the embedded defaults and
// presets, the layering of a config file, NATSSL_* environment variables, SageMaker
// hyperparameters and --set overrides (through viper), and validation before any work starts.
//
// The method section holds every method's own keys (Method); a key belongs to one method, a
// layer that sets it for another method is refused, and a run's YAML and params hold only the
// keys that apply to its method (Config.Applies). augment.crops is a list of mappings, read
// from YAML, --set and the environment alike.
//
// A preset may carry files of its own: the smoke preset's few real images and NeWT-layout
// suite are embedded (configs/smoke) and written out once to the user's cache folder, and the
// preset's input paths point there, so that `natssl train --config smoke` runs from any folder
// and from an installed binary.
//
// An unknown key is refused with the key it most likely meant, by meaning first (a small table
// of the names other training tools use: learning_rate for lr) and then by spelling. A NATSSL_*
// variable of a known section that sets no key is refused the same way; natssl's own variables
// that set no key (OwnEnv: NATSSL_CUDA_LIB_DIR) are let be; any other NATSSL_* variable
// belongs to someone else and is only a warning (Config.Warnings). Values lists the fixed
// values of a key for shell completion.
//
// Viper stops here: every other package receives a *Config (or one of its sections) and never
// reads viper or the config's environment itself.
package configs
