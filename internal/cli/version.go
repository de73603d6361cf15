package cli

import (
	"fmt"
	"runtime"
	"sort"

	"github.com/spf13/cobra"
)

// version and commit are set at build time with -ldflags -X.
var (
	version = "dev"
	commit  = ""
)

// buildFeatures name the implementations compiled in ("jpeg": "libjpeg-turbo", ...); packages'
// CLI files add theirs in init.
var buildFeatures = map[string]string{}

func init() { addCommand(newVersionCmd) }

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the build's implementations (JPEG decoder, BLAS, engine)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.Stdout, "natssl %s", version)
			if commit != "" {
				fmt.Fprintf(e.Stdout, " (%s)", commit)
			}
			fmt.Fprintf(e.Stdout, " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			keys := make([]string, 0, len(buildFeatures))
			for k := range buildFeatures {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(e.Stdout, "  %-8s %s\n", k+":", buildFeatures[k])
			}
			return nil
		},
	}
}
