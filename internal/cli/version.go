package cli

import (
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/decode"
	"github.com/natssl/natssl/mpi"
	"github.com/natssl/natssl/trainer"
)

// version is set at build time with -ldflags -X (the Makefile: git describe).
var version = "dev"

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the build's implementations (JPEG decoder, pixel passes, BLAS, MPI) and the CUDA found",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The implementations this binary was built with.
			features := map[string]string{"jpeg": decode.Backend, "pixels": augment.Kernels, "blas": trainer.BLAS, "mpi": mpi.Version()}
			fmt.Fprintf(e.Stdout, "natssl %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			keys := make([]string, 0, len(features))
			for k := range features {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(e.Stdout, "  %-8s %s\n", k+":", features[k])
			}
			// The CUDA driver, the libraries found (with their files) and the GPUs, or why
			// train.devices cannot name a GPU here.
			for _, line := range strings.Split(strings.TrimSpace(trainer.DescribeCUDA()), "\n") {
				fmt.Fprintf(e.Stdout, "  %s\n", line)
			}
			return nil
		},
	}
}
