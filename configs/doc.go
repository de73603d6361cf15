// Package configs owns natssl's run configuration: the typed Config, the embedded defaults and
// presets, the layering of a config file, NATSSL_* environment variables, SageMaker
// hyperparameters and --set overrides (through viper), and validation before any work starts.
//
// Viper stops here: every other package receives a *Config (or one of its sections) and never
// reads viper or the environment itself.
package configs
